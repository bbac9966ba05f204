// `softmoe train`'s settings: the model's defaults, the model configurations, validation.
#include <algorithm>
#include <cmath>

#include <fmt/format.h>

#include "softmoe/commands/train.hpp"
#include "softmoe/errors.hpp"
#include "softmoe/data/paper_mnist.hpp"

namespace softmoe {
namespace {

void require(bool ok, const std::string& message) {
  if (!ok) throw UsageError(message);
}

bool is_vit(const TrainConfig& c) { return c.model == ModelKind::vit; }

}  // namespace

TrainRecipe resolve_recipe(const TrainConfig& c) {
  const bool vit = is_vit(c);
  const RecipeOptions& o = c.recipe;
  TrainRecipe r;
  r.optimizer = o.optimizer.value_or(vit ? OptimizerKind::adamw : OptimizerKind::adam);
  r.lr = c.lr.value_or(vit ? 2e-3 : 1e-3);
  r.weight_decay = o.weight_decay.value_or(vit ? 0.05 : 0.0);
  r.momentum = c.momentum;
  r.batch = o.batch.value_or(vit ? 128 : 256);
  r.epochs = c.epochs.value_or(vit ? 20 : 14);
  r.shuffle = o.shuffle.value_or(vit);
  r.schedule = o.schedule.value_or(vit ? Schedule::cosine : Schedule::constant);
  r.warmup = o.warmup.value_or(vit ? 0.5 : 0.0);
  r.label_smoothing = o.label_smoothing.value_or(vit ? 0.1 : 0.0);
  r.shift = o.shift.value_or(vit ? 2 : 0);
  r.normalize = o.normalize.value_or(vit ? Normalize::router : Normalize::all);
  r.phi_init = o.phi_init.value_or(vit ? PhiInit::normal : PhiInit::uniform);
  return r;
}

MoeModelConfig paper_mnist_model(const TrainConfig& c) {
  const TrainRecipe r = resolve_recipe(c);
  MoeModelConfig m;
  m.moe.tokens = (kPaperImageSide / kPaperPatch) * (kPaperImageSide / kPaperPatch);
  m.moe.dim = kPaperPatch * kPaperPatch;
  m.moe.experts = c.experts;
  m.moe.slots = c.slots;
  m.moe.hidden = c.expert_hidden > 0 ? c.expert_hidden : (kPaperImageSide * kPaperImageSide) / c.experts;
  m.moe.dim_out = m.moe.dim;
  m.moe.expert_bias = c.expert_bias;
  m.moe.activation = c.activation;
  m.moe.normalize = r.normalize;
  m.moe.mixing = c.routing.mixing();
  require(m.moe.mixing != Mixing::identity || m.moe.total_slots() == m.moe.tokens,
          fmt::format("--router identity: needs experts x slots = {} tokens (token t is slot t); got {} x {}",
                      m.moe.tokens, m.moe.experts, m.moe.slots));
  m.outputs = kPaperClasses;
  m.head_bias = false;
  m.phi_init = r.phi_init;
  return m;
}

VitConfig vit_model(const TrainConfig& c) {
  const VitOptions& v = c.vit;
  const TrainRecipe r = resolve_recipe(c);
  require(v.patch >= 1 && kPaperImageSide % v.patch == 0,
          fmt::format("--patch: must divide the 28-pixel image side (1, 2, 4, 7, 14 or 28; got {})", v.patch));
  require(v.dim >= 1, fmt::format("--dim: must be at least 1 (got {})", v.dim));
  require(v.depth >= 1, fmt::format("--depth: must be at least 1 (got {})", v.depth));
  require(v.heads >= 1 && v.dim % v.heads == 0,
          fmt::format("--heads: must divide --dim {} (got {})", v.dim, v.heads));
  require(v.mlp_hidden >= 0, fmt::format("--mlp-hidden: must be 0 (4 dim) or positive (got {})", v.mlp_hidden));
  require(c.experts >= 0, fmt::format("--experts: must be 0 (dense baseline) or positive (got {})", c.experts));
  require(c.expert_hidden >= 0,
          fmt::format("--expert-hidden: must be 0 (automatic) or positive (got {})", c.expert_hidden));
  require(v.expert_params >= 0, fmt::format("--expert-params: must be 0 or positive (got {})", v.expert_params));
  require(!(v.expert_params > 0 && c.expert_hidden > 0), "--expert-params: give it or --expert-hidden, not both");
  std::vector<int> layers = v.moe_layers;
  std::sort(layers.begin(), layers.end());
  for (std::size_t i = 0; i < layers.size(); ++i) {
    require(layers[i] >= 0 && layers[i] < v.depth,
            fmt::format("--moe-layers: block {} is outside 0..{} (--depth {})", layers[i], v.depth - 1, v.depth));
    require(i == 0 || layers[i] != layers[i - 1], fmt::format("--moe-layers: block {} listed twice", layers[i]));
  }
  VitConfig m;
  m.rows = m.cols = kPaperImageSide;
  m.classes = kPaperClasses;
  m.patch = v.patch;
  m.dim = v.dim;
  m.depth = v.depth;
  m.heads = v.heads;
  m.mlp_hidden = v.mlp_hidden;
  m.pool = v.pool;
  m.moe_layers = layers;
  m.moe_residual = v.moe_residual;
  m.experts = c.experts;
  m.slots = c.slots;
  m.expert_hidden = c.expert_hidden;
  if (v.expert_params > 0 && c.experts > 0) {
    const long width = v.expert_params / (2L * c.experts * v.dim);
    require(width >= 1, fmt::format("--expert-params {}: {} experts of width dim {} leave a hidden width of 0 "
                                    "(the budget counts 2 dim hidden weights per expert)",
                                    v.expert_params, c.experts, v.dim));
    m.expert_hidden = static_cast<int>(width);
  }
  m.normalize = r.normalize;
  m.phi_init = r.phi_init;
  if (c.routing.router == Router::dense) m.experts = 0;  // the ViT's dense baseline
  m.mixing = c.routing.mixing();
  require(m.mixing == Mixing::soft || m.experts >= 1,
          fmt::format("--router {}: needs --experts 1 or more", to_string(c.routing.router)));
  require(m.mixing != Mixing::identity || m.experts * m.slots == m.tokens(),
          fmt::format("--router identity: needs experts x slots = {} tokens (token t is slot t); got {} x {}",
                      m.tokens(), m.experts, m.slots));
  if (c.routing.router == Router::tokens_choice || c.routing.router == Router::experts_choice) {
    require(c.experts >= 1, fmt::format("--router {}: needs --experts 1 or more", to_string(c.routing.router)));
    require(c.slots == 1, fmt::format("--slots: a Soft MoE setting (--router {} has none)", to_string(c.routing.router)));
    m.router = sparse_moe_shape(c.routing, c.experts, m.tokens(), m.dim, m.expert_width(), m.dim);
  }
  try {
    validate(m);
  } catch (const std::invalid_argument& e) {
    throw UsageError(fmt::format("--model vit: {}", e.what()));
  }
  return m;
}

void validate(const TrainConfig& c) {
  const TrainRecipe r = resolve_recipe(c);
  if (is_vit(c)) {
    require(c.activation == Activation::relu && !c.expert_bias,
            "--activation/--expert-bias: the ViT's experts are always GELU with biases (paper-mnist only)");
    vit_model(c);
  } else {
    require(c.experts >= 1, fmt::format("--experts: must be at least 1 (got {})", c.experts));
    require(c.expert_hidden >= 0, fmt::format("--expert-hidden: must be 0 (automatic) or positive (got {})",
                                              c.expert_hidden));
    require(c.expert_hidden > 0 || c.experts <= kPaperImageSide * kPaperImageSide,
            fmt::format("--experts {}: int(784 / n) is 0; give --expert-hidden", c.experts));
    require(r.shift == 0, "--shift: random shifts need --model vit (paper-mnist reads pre-cut patches)");
    require(c.vit.expert_params == 0, "--expert-params: only with --model vit");
  }
  require(c.slots >= 1, fmt::format("--slots: must be at least 1 (got {})", c.slots));
  require(std::isfinite(r.lr) && r.lr > 0, fmt::format("--lr: must be a positive number (got {})", r.lr));
  require(std::isfinite(r.weight_decay) && r.weight_decay >= 0,
          fmt::format("--weight-decay: must be non-negative (got {})", r.weight_decay));
  require(std::isfinite(r.momentum) && r.momentum >= 0 && r.momentum < 1,
          fmt::format("--momentum: must be in [0, 1) (got {})", r.momentum));
  require(r.batch >= 1, fmt::format("--batch: must be at least 1 (got {})", r.batch));
  require(r.epochs >= 1, fmt::format("--epochs: must be at least 1 (got {})", r.epochs));
  require(std::isfinite(r.warmup) && r.warmup >= 0, fmt::format("--warmup: must be non-negative (got {})", r.warmup));
  require(r.warmup == 0 || r.schedule == Schedule::cosine, "--warmup: only with --schedule cosine");
  require(std::isfinite(r.label_smoothing) && r.label_smoothing >= 0 && r.label_smoothing < 1,
          fmt::format("--label-smoothing: must be in [0, 1) (got {})", r.label_smoothing));
  require(r.shift >= 0 && r.shift < kPaperImageSide,
          fmt::format("--shift: must be in 0..27 pixels (got {})", r.shift));
  if (c.routing.sparse()) {
    if (!is_vit(c)) routed_paper_mnist_model(c);  // the ViT's were checked by vit_model above
  } else {
    const RouterOptions& o = c.routing;
    require(!o.k && !o.capacity_factor && !o.group_images && !o.bpr && !o.noise && !o.aux && !o.aux_weight,
            "--router-k/--capacity-factor/--group-images/--bpr/--router-noise/--aux-loss/--aux-weight: only with "
            "a sparse --router (tokens-choice, experts-choice)");
  }
  require(!c.log_routing || !is_vit(c) || c.experts > 0, "--log-routing: a dense ViT (--experts 0) has no MoE layer");
  require(c.seed >= 0, fmt::format("--seed: must be non-negative (got {})", c.seed));
  require(!c.train_size || *c.train_size >= 1,
          fmt::format("--train-size: must be at least 1 (got {})", c.train_size.value_or(0)));
  require(c.val_size >= 0, fmt::format("--val-size: must be 0 or positive (got {})", c.val_size));
  require(!c.epoch_updates || *c.epoch_updates >= 1,
          fmt::format("--epoch-updates: must be at least 1 (got {})", c.epoch_updates.value_or(0)));
  require(c.threads >= 1 && c.threads <= 256, fmt::format("--threads: must be in 1..256 (got {})", c.threads));
  require(!c.out.empty(), "--out: give the run directory");
}

}  // namespace softmoe
