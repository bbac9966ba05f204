#pragma once
// A `softmoe train` run directory loaded for evaluation: its model (any Model), its test set in the form
// the model reads, and what train.csv reported. Used by `specialize` (and by whatever evaluates runs next).
#include <memory>
#include <optional>
#include <string>

#include "softmoe/data/token_dataset.hpp"
#include "softmoe/models/model.hpp"
#include "softmoe/models/moe_model.hpp"

namespace softmoe {

struct TrainedRun {
  std::unique_ptr<Model<float>> model;
  MoeModel<float>* paper = nullptr;  // the same model when it is the paper's (the only one with an oracle)
  int sparse_experts = 0;            // n of a sparse router's layer (0: a Soft MoE model)
  std::string router;                // soft, a routing ablation's name, or the sparse router's
  bool subsets = true;               // expert subsets are defined (soft dispatch and combine)
  TokenDataset test;
  std::optional<double> reported_accuracy;  // the last test_accuracy of train.csv
};

// Loads model.safetensors (checked against config.json) with batches of up to `batch` inputs and the test
// set (from data_dir, or the run's own when empty). A sparse router's run is evaluated in the batches it
// was trained with (its groups depend on them), whatever `batch` says. A directory that is not a usable run, or a dense ViT
// (no experts to select), is a UsageError naming --run; unreadable data is a RunError.
TrainedRun load_trained_run(const std::string& dir, const std::string& data_dir, int batch);

}  // namespace softmoe
