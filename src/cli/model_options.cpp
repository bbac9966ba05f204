// Flags shared by `train` and `sweep`: the ViT's architecture and the training recipe whose defaults
// depend on the model.
#include "commands.hpp"

namespace softmoe::cli {
namespace {

// An option that sets an std::optional only when given (its default is the model's).
template <class T>
CLI::Option* add_optional(CLI::App* cmd, const std::string& name, std::optional<T>& target, const std::string& help) {
  return cmd->add_option_function<T>(name, [&target](const T& value) { target = value; }, help);
}

}  // namespace

void add_vit_options(CLI::App* cmd, VitOptions& v) {
  const std::string group = "ViT (--model vit)";
  cmd->add_option("--patch", v.patch, "Patch side p; must divide 28 (4: 49 patches, 7: 16 patches)")
      ->capture_default_str()->group(group);
  cmd->add_option("--dim", v.dim, "Token width D")->capture_default_str()->group(group);
  cmd->add_option("--depth", v.depth, "Transformer blocks (pre-LayerNorm)")->capture_default_str()->group(group);
  cmd->add_option("--heads", v.heads, "Attention heads; must divide --dim")->capture_default_str()->group(group);
  cmd->add_option("--mlp-hidden", v.mlp_hidden, "Hidden width of the dense MLPs; 0 = 4 x dim")
      ->capture_default_str()->group(group);
  cmd->add_option("--pool", v.pool, "cls (a class token, routed like any token) or mean (mean of the tokens)")
      ->transform(enum_names(kPoolNames))->default_str(to_string(v.pool))->group(group);
  cmd->add_option("--moe-layers", v.moe_layers, "Blocks (0-based list) whose MLP is a Soft MoE; default: the last half")
      ->delimiter(',')->group(group);
  cmd->add_option("--moe-residual", v.moe_residual, "on: x + SoftMoE(LN(x)); off: SoftMoE(LN(x)) (the paper's final "
                                                    "CIFAR runs)")
      ->transform(on_off())->default_str(v.moe_residual ? "on" : "off")->group(group);
}

void add_router_options(CLI::App* cmd, RouterOptions& o) {
  const std::string group = "Router (both models; vit: in its MoE blocks)";
  cmd->add_option("--router", o.router,
                  "soft (the Soft MoE), tokens-choice (each token its top-K experts), experts-choice (each expert its "
                  "top-C tokens) or dense (paper-mnist: one MLP of the experts' total hidden width; vit: the dense "
                  "baseline, as --experts 0); sparse routers use the Soft MoE's experts and route groups of "
                  "--group-images images. soft-uniform-combine, uniform-soft, uniform, identity: the Soft MoE paper's "
                  "routing ablations (dispatch and/or combine constant; identity: token t is slot t, needs n p = "
                  "tokens)")
      ->transform(enum_names(kRouterNames))->default_str(to_string(o.router))->group(group);
  add_optional(cmd, "--router-k", o.k, "tokens-choice: experts per token K; default 1")->group(group);
  add_optional(cmd, "--capacity-factor", o.capacity_factor,
               "Capacity factor c: tokens-choice C = ceil(S K c / n) per expert and group of S tokens, experts-choice "
               "C = round(S c / n); default 1")->group(group);
  add_optional(cmd, "--group-images", o.group_images,
               "Images routed together (consecutive in the batch; a partial last group has its own capacity); "
               "default 8")->group(group);
  cmd->add_flag_callback("--bpr", [&o] { o.bpr = true; },
                         "tokens-choice: batch priority routing (tokens offered by their top gate, not position)")
      ->group(group);
  add_optional(cmd, "--router-noise", o.noise,
               "Gaussian noise of std VALUE / n on the router logits, training only; default 1 (vmoe)")->group(group);
  add_optional(cmd, "--aux-loss", o.aux, "tokens-choice: importance,load (load only with noise), switch or none; "
                                         "default importance,load")
      ->transform(enum_names(kAuxLossNames))->group(group);
  add_optional(cmd, "--aux-weight", o.aux_weight,
               "tokens-choice: weight of the auxiliary loss (per group, averaged); default 0.005")->group(group);
}

void add_recipe_options(CLI::App* cmd, RecipeOptions& o) {
  add_optional(cmd, "--optimizer", o.optimizer, "adam, adamw (decoupled weight decay) or sgd (with --momentum); "
                                                "default adam (paper-mnist), adamw (vit)")
      ->transform(enum_names(kOptimizerNames));
  add_optional(cmd, "--weight-decay", o.weight_decay,
               "Weight decay (L2 for adam and sgd, decoupled for adamw); default 0 (paper-mnist), 0.05 (vit)");
  add_optional(cmd, "--batch", o.batch,
               "Mini-batch size (the last partial batch is kept); default 256 (paper-mnist), 128 (vit)");
  cmd->add_flag_callback("--shuffle", [&o] { o.shuffle = true; },
                         "Reshuffle the training set every epoch (default for vit; paper-mnist keeps file order)");
  cmd->add_flag_callback("--no-shuffle", [&o] { o.shuffle = false; }, "Train in file order every epoch");
  add_optional(cmd, "--schedule", o.schedule, "Learning rate: constant, or cosine (linear warm-up, then a half cosine "
                                              "to 0 at the last planned update); default constant (paper-mnist), "
                                              "cosine (vit)")
      ->transform(enum_names(kScheduleNames));
  add_optional(cmd, "--warmup", o.warmup, "Epochs of linear warm-up of the cosine schedule (fractional allowed); "
                                          "default 0 (paper-mnist), 0.5 (vit)");
  add_optional(cmd, "--label-smoothing", o.label_smoothing,
               "Label smoothing eps of the training loss (test loss is plain cross-entropy); default 0 "
               "(paper-mnist), 0.1 (vit)");
  add_optional(cmd, "--shift", o.shift, "vit: shift each training image by up to this many pixels (uniform per "
                                        "axis, black fill; seeded by --seed and the epoch); default 2");
  add_optional(cmd, "--normalize", o.normalize, "Router normalisation: none, router (experts see raw tokens), all "
                                                "(the paper's code); default all (paper-mnist), router (vit)")
      ->transform(enum_names(kNormalizeNames));
  add_optional(cmd, "--phi-init", o.phi_init, "Router weights Phi: uniform [-1, 1] (paper) or normal (std "
                                              "1/sqrt(d)); default uniform (paper-mnist), normal (vit)")
      ->transform(enum_names(kPhiInitNames));
}

}  // namespace softmoe::cli
