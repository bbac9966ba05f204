#pragma once
// Evaluates any Model on a labelled test set with every expert, or with a per-input subset of k experts
// in every Soft MoE layer (Algorithms 1 and 2 of Chung et al.): top-k by the layer's combine weight, top-k
// with the combine weights renormalised over the kept slots, or k experts drawn at random.
// One work count for every model: the Soft MoE layers' work from their shapes (moe_layers()) plus the
// model's dense work (dense_flops_per_input()); one timing rule: the wall clock of a whole pass over the
// test set in batches of the model's max_batch().
#include <optional>
#include <string>

#include "softmoe/data/token_dataset.hpp"
#include "softmoe/layers/softmoe_selected.hpp"
#include "softmoe/models/model.hpp"
#include "softmoe/names.hpp"

namespace softmoe {

class Rng;

enum class SelectionMethod { all, topk, topk_renorm, random, oracle };

inline constexpr EnumName<SelectionMethod> kSelectionMethodNames[] = {
    {SelectionMethod::all, "all"},       {SelectionMethod::topk, "topk"},     {SelectionMethod::topk_renorm, "topk-renorm"},
    {SelectionMethod::random, "random"}, {SelectionMethod::oracle, "oracle"}};
inline const char* to_string(SelectionMethod value) { return name_of(value, kSelectionMethodNames); }

// One evaluation: a method at one k over `inputs` test inputs.
struct SelectionRow {
  SelectionRow(SelectionMethod method_, int k_) : method(method_), k(k_) {}
  SelectionMethod method;
  int k = 0;
  int trial = -1;  // random subsets: the trial's seed; -1: not one trial (a method's own row, or the mean)
  double accuracy = 0;
  std::optional<double> accuracy_std, topk_is_oracle;
  int n_trials = 1;
  long inputs = 0;
  WorkCount work;  // summed over inputs
  double seconds = 0;
};

// The work of `inputs` forward passes with every expert: router, dispatch, experts and combine of each
// Soft MoE layer (as run_kept_experts counts them) and the dense work.
WorkCount full_forward_work(const Model<float>& model, long inputs);

class SubsetEvaluator {
 public:
  // model has at least one Soft MoE layer or a sparse router (then only all_experts() applies: its work
  // is the experts' as measured, the router's logits count as dense work); test inputs are [count, model.input_size()]. Both must outlive
  // the evaluator.
  SubsetEvaluator(Model<float>& model, const TokenDataset& test);

  int experts() const { return experts_; }  // n of every Soft MoE layer; 0 for a sparse router
  const TokenDataset& test() const { return test_; }

  SelectionRow all_experts();
  // method topk, topk_renorm or random (rng then draws each input's subset in every layer).
  SelectionRow selected(SelectionMethod method, int k, Rng* rng);

 private:
  const float* inputs(int first) const;

  Model<float>& model_;
  const TokenDataset& test_;
  int experts_;
};

}  // namespace softmoe
