#pragma once
// `softmoe train`: the paper's MNIST Soft MoE model (`--model paper-mnist`) or a Soft MoE Vision
// Transformer (`--model vit`) on MNIST or Fashion-MNIST, into a run directory holding model.safetensors,
// optimizer.safetensors (resume state), train.csv and config.json; --resume continues from the last
// completed epoch with byte-identical results.
#include <optional>
#include <string>
#include <vector>

#include "softmoe/data/image_dataset.hpp"
#include "softmoe/layers/activation.hpp"
#include "softmoe/layers/pooling.hpp"
#include "softmoe/layers/sparse_moe.hpp"
#include "softmoe/models/moe_model.hpp"
#include "softmoe/models/routed_model.hpp"
#include "softmoe/models/vit.hpp"
#include "softmoe/names.hpp"
#include "softmoe/optim.hpp"
#include "softmoe/train/classification.hpp"
#include "softmoe/train/schedule.hpp"

namespace softmoe {

enum class ModelKind { paper_mnist, vit };
inline constexpr EnumName<ModelKind> kModelNames[] = {{ModelKind::paper_mnist, "paper-mnist"}, {ModelKind::vit, "vit"}};
inline const char* to_string(ModelKind value) { return name_of(value, kModelNames); }

// The ViT's architecture flags (shared by `train` and `sweep`); see VitConfig.
struct VitOptions {
  int patch = 4;
  int dim = 64;
  int depth = 4;
  int heads = 4;
  int mlp_hidden = 0;            // 0: 4 dim
  Pool pool = Pool::cls;
  std::vector<int> moe_layers;   // empty: the last half of the blocks
  bool moe_residual = true;      // --moe-residual on | off
  long expert_params = 0;        // expert weight budget per MoE layer; 0: --expert-hidden decides
};

// The MoE layer's router: the Soft MoE, or a sparse router of the Soft MoE paper's comparison
// (layers/sparse_moe.hpp) with the same experts.
// The last four are the Soft MoE with the paper's routing ablations (Mixing, layers/softmoe.hpp).
enum class Router { soft, tokens_choice, experts_choice, dense, soft_uniform_combine, uniform_soft, uniform, identity };
inline constexpr EnumName<Router> kRouterNames[] = {{Router::soft, "soft"},
                                                   {Router::tokens_choice, "tokens-choice"},
                                                   {Router::experts_choice, "experts-choice"},
                                                   {Router::dense, "dense"},
                                                   {Router::soft_uniform_combine, "soft-uniform-combine"},
                                                   {Router::uniform_soft, "uniform-soft"},
                                                   {Router::uniform, "uniform"},
                                                   {Router::identity, "identity"}};
inline const char* to_string(Router value) { return name_of(value, kRouterNames); }

// The sparse routers' flags (shared by `train` and `sweep`); unset: the router's default, and refused
// for a router they do not apply to.
struct RouterOptions {
  Router router = Router::soft;
  std::optional<int> k;                   // Tokens Choice, default 1
  std::optional<double> capacity_factor;  // default 1
  std::optional<int> group_images;        // default 8
  bool bpr = false;                       // Tokens Choice
  std::optional<double> noise;            // default 1 (vmoe): std noise / n, training only
  std::optional<AuxLoss> aux;             // Tokens Choice, default importance,load
  std::optional<double> aux_weight;       // default 0.005 (vmoe's ViT configs)

  bool sparse() const {
    return router == Router::tokens_choice || router == Router::experts_choice || router == Router::dense;
  }
  // The Soft MoE's dispatch and combine: soft, or one of the ablations.
  Mixing mixing() const {
    switch (router) {
      case Router::soft_uniform_combine: return Mixing::soft_uniform_combine;
      case Router::uniform_soft: return Mixing::uniform_soft;
      case Router::uniform: return Mixing::uniform;
      case Router::identity: return Mixing::identity;
      default: return Mixing::soft;
    }
  }
};

// Training settings whose defaults depend on the model (unset: the model's default, resolve_recipe).
struct RecipeOptions {
  std::optional<OptimizerKind> optimizer;
  std::optional<double> weight_decay;
  std::optional<int> batch;
  std::optional<bool> shuffle;
  std::optional<Schedule> schedule;
  std::optional<double> warmup;            // epochs of linear warm-up (cosine only), may be fractional
  std::optional<double> label_smoothing;
  std::optional<int> shift;                // random shifts of up to this many pixels (vit only)
  std::optional<Normalize> normalize;
  std::optional<PhiInit> phi_init;
};

struct TrainConfig {
  Dataset dataset = Dataset::mnist;
  std::string data_dir;  // empty: the dataset's default directory
  ModelKind model = ModelKind::paper_mnist;
  int experts = 8;       // vit: 0 = the dense baseline
  int expert_hidden = 0;  // 0: int(784 / experts) (paper-mnist), mlp width / experts (vit)
  int slots = 1;
  Activation activation = Activation::relu;  // paper-mnist only (the ViT's experts are GELU)
  bool expert_bias = false;         // paper-mnist only (the ViT's experts have biases)
  std::optional<double> lr;
  double momentum = 0.9;
  std::optional<int> epochs;
  RecipeOptions recipe;
  VitOptions vit;
  RouterOptions routing;
  long long seed = 0;
  // Data: a class-stratified training subset seeded by `seed` (data/subset.hpp); unset: all of it.
  std::optional<int> train_size;
  int val_size = 0;          // the last V training images (after the subset) held out for validation
  // Updates per epoch, cycling through the training images (passes in the epoch order, continued
  // across epochs); unset: one pass per epoch. Fixes the number of updates across --train-size.
  std::optional<int> epoch_updates;
  bool eval_train = false;   // train.csv's fit_loss, fit_accuracy: the model on its own training images
  int threads = 1;
  std::string out;
  bool resume = false;
  bool quiet = false;
  bool log_routing = false;  // RUN/routing.csv: routing statistics on the test set per epoch (routing_log.hpp)
  std::vector<std::string> invocation;  // the command line, recorded in config.json
};

// Every training setting, resolved: the flags given, the model's defaults for the rest.
struct TrainRecipe {
  OptimizerKind optimizer = OptimizerKind::adam;
  double lr = 0, weight_decay = 0, momentum = 0;
  int batch = 0, epochs = 0;
  bool shuffle = false;
  Schedule schedule = Schedule::constant;
  double warmup = 0, label_smoothing = 0;
  int shift = 0;
  Normalize normalize = Normalize::all;
  PhiInit phi_init = PhiInit::uniform;
};

// paper-mnist: adam 1e-3, no weight decay, batch 256, 14 epochs, file order, constant schedule, no
// smoothing or shifts, normalize all, Phi uniform (the paper's recipe). vit: adamw 2e-3, weight decay
// 0.05, batch 128, 20 epochs, reshuffled, cosine with 0.5 epochs of warm-up, label smoothing 0.1,
// shifts of up to 2 pixels, normalize router, Phi normal.
TrainRecipe resolve_recipe(const TrainConfig& config);

// The paper's MNIST model: 4 tokens of 196 pixels (14 x 14 patches), experts Linear(196 -> h) -> act ->
// Linear(h -> 196), flatten, Linear(784 -> 10), bias-free head.
MoeModelConfig paper_mnist_model(const TrainConfig& config);

// The paper's MNIST model with --router tokens-choice, experts-choice or dense: the same experts as the
// Soft MoE at the same n (dense: one expert of the total hidden width n h).
RoutedModelConfig routed_paper_mnist_model(const TrainConfig& config);

// The sparse layer --router and its flags describe for MoE inputs of `tokens` tokens of width `dim`,
// experts of hidden width `hidden` (UsageError naming the flag).
SparseMoeShape sparse_moe_shape(const RouterOptions& options, int experts, int tokens, int dim, int hidden, int dim_out);

// The ViT of --model vit on 28 x 28 images with 10 classes (UsageError naming the flag if impossible).
VitConfig vit_model(const TrainConfig& config);

// Throws UsageError naming the flag.
void validate(const TrainConfig& config);

// A sparse router's columns of train.csv: what it did on the test set after the epoch (drops, realised
// capacity factor, fewest and most tokens one expert kept in one group) and the epoch's mean weighted
// auxiliary loss in training.
struct RoutingColumns {
  double drop_rate = 0, capacity_factor = 0;
  long tokens_per_expert_min = 0, tokens_per_expert_max = 0;
  double aux_loss = 0;
};

// One row of train.csv, as values.
struct EpochRow {
  int epoch = 0;
  double train_loss = 0, train_accuracy = 0, test_loss = 0, test_accuracy = 0;
  double train_seconds = 0, eval_seconds = 0, samples_per_second = 0;
  double lr = 0;                                     // the learning rate of the epoch's last update
  std::optional<EpochMetrics> validation;            // --val-size only
  std::optional<EpochMetrics> fit;                   // --eval-train only
  std::optional<RoutingColumns> routing;             // sparse routers only
};

// What a run directory holds after run_train: every completed epoch (those of earlier, resumed
// invocations too), and the model's sizes.
struct TrainResult {
  std::string dir;
  std::vector<EpochRow> epochs;
  int train_images = 0, validation_images = 0;  // after --train-size and --val-size
  int expert_hidden = 0;              // each expert's hidden width (the architecture's)
  long parameters = 0, expert_parameters = 0;
};

TrainResult run_train(const TrainConfig& config);

}  // namespace softmoe
