#pragma once
// `train --log-routing`: RUN/routing.csv, the routing statistics (eval/routing_stats.hpp) of every MoE layer
// on the test set before training (epoch 0) and after every epoch, plus expert_change_rate: the share of
// test inputs whose top-k experts changed since the previous epoch (k as for class_expert_in_topk).
// Written atomically before the epoch's training state, so a resumed run drops the rows of an epoch it
// redoes and recomputes the previous epoch's top-k sets from the checkpoint: the file comes out the same.
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "softmoe/data/token_dataset.hpp"
#include "softmoe/models/model.hpp"

namespace softmoe {

class RoutingLog {
 public:
  RoutingLog(std::filesystem::path path, std::string router, int threads);

  // Starts a new file with the model's epoch-0 rows.
  void start(Model<float>& model, const TokenDataset& test);
  // Continues the file of a run resumed after `epoch` completed epochs: keeps its rows up to that epoch
  // (RunError if it lacks them) and recomputes the top-k sets of the model as loaded.
  void resume(int epoch, Model<float>& model, const TokenDataset& test);
  // Appends the rows of `epoch` and rewrites the file.
  void record(int epoch, Model<float>& model, const TokenDataset& test);

 private:
  // The rows of one epoch; updates the top-k sets (change rates against the previous ones when `compare`).
  std::string epoch_rows(int epoch, Model<float>& model, const TokenDataset& test, bool compare);

  std::filesystem::path path_;
  std::string router_;
  int threads_;
  std::string text_;
  std::vector<std::vector<std::vector<std::int32_t>>> sets_;  // [layer][k index] top_k_sets
};

}  // namespace softmoe
