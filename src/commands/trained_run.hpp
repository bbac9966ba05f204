#pragma once
// A `softmoe train` run directory loaded for evaluation: its model (any Model), its test set in the form
// the model reads, and what train.csv reported. Used by `specialize` (and by whatever evaluates runs next).
#include <memory>
#include <optional>
#include <string>

#include "softmoe/data/token_dataset.hpp"
#include "softmoe/models/model.hpp"
#include "softmoe/models/moe_model.hpp"
#include "softmoe/commands/specialize.hpp"  // EvalSplit

namespace softmoe {


struct TrainedRun {
  std::unique_ptr<Model<float>> model;
  MoeModel<float>* paper = nullptr;  // the same model when it is the paper's (the only one with an oracle)
  int sparse_experts = 0;            // n of a sparse router's layer (0: a Soft MoE model)
  std::string router;                // soft, a routing ablation's name, or the sparse router's
  bool subsets = true;               // expert subsets are defined (soft dispatch and combine)
  TokenDataset data;                 // the images of the split, in the form the model reads
  // train.csv's last test_accuracy (split test) or fit_accuracy (split train, --eval-train runs)
  std::optional<double> reported_accuracy;
};

// Loads model.safetensors (checked against config.json) with batches of up to `batch` inputs and the
// split's images (from data_dir, or the run's own when empty). A sparse router's run is evaluated in the batches it
// was trained with (its groups depend on them), whatever `batch` says. A directory that is not a usable run, or a dense ViT
// (no experts to select), is a UsageError naming --run; unreadable data is a RunError.
TrainedRun load_trained_run(const std::string& dir, const std::string& data_dir, int batch,
                            EvalSplit split = EvalSplit::test);

}  // namespace softmoe
