#pragma once
// Shared by the two model families of `softmoe specialize`: one result row, and the evaluator interface
// (paper-mnist: specialize.cpp; vit: specialize_vit.cpp).
#include <memory>
#include <optional>
#include <string>

#include "softmoe/commands/specialize.hpp"
#include "softmoe/io/json.hpp"
#include "softmoe/layers/softmoe_selected.hpp"

namespace softmoe {

class Rng;

struct SpecializeRow {
  SpecializeRow(std::string method_, int k_) : method(std::move(method_)), k(k_) {}
  std::string method, trial = "all";
  int k = 0;
  double accuracy = 0;
  std::optional<double> accuracy_std, topk_is_oracle;
  int n_trials = 1;
  long inputs = 0;
  WorkCount work;  // summed over inputs
  double seconds = 0;
};

// Evaluates a trained run's test set with every expert or with per-input expert subsets.
class SubsetEvaluator {
 public:
  virtual ~SubsetEvaluator() = default;
  virtual int experts() const = 0;
  virtual int test_count() const = 0;
  virtual SpecializeRow all_experts() = 0;
  // method topk, topk-renorm or random (then rng draws the subsets), in every Soft MoE layer.
  virtual SpecializeRow selected(const std::string& method, int k, Rng* rng) = 0;
  // The exact oracle; only for models that are linear after their one Soft MoE layer.
  virtual bool has_oracle() const = 0;
  virtual SpecializeRow oracle(int k, int inputs) = 0;
};

// The ViT run in `dir` whose config.json is `config` (UsageError for a dense ViT or a bad checkpoint);
// test data from data_dir (empty: the run's own).
std::unique_ptr<SubsetEvaluator> load_vit_evaluator(const std::string& dir, const json::Value& config,
                                                    const std::string& data_dir, int batch);

}  // namespace softmoe
