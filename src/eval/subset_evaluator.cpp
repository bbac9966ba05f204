#include "softmoe/eval/subset_evaluator.hpp"

#include <algorithm>
#include <chrono>
#include <stdexcept>

#include "softmoe/layers/expert_selection.hpp"
#include "softmoe/layers/loss.hpp"

namespace softmoe {
namespace {

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

}  // namespace

WorkCount full_forward_work(const Model<float>& model, long inputs) {
  WorkCount work;
  for (const SoftMoeShape& s : model.moe_layers()) {
    const double m = s.tokens, d = s.dim, h = s.hidden, d_out = s.dim_out, S = s.total_slots();
    const double expert = inputs * S * 2.0 * (d * h + h * d_out);
    work.expert += expert;
    work.total += expert + inputs * (2.0 * m * d * S + S * 2.0 * m * (d + d_out));
  }
  work.total += inputs * model.dense_flops_per_input();
  return work;
}

SubsetEvaluator::SubsetEvaluator(Model<float>& model, const TokenDataset& test) : model_(model), test_(test) {
  const auto layers = model.moe_layers();
  if (layers.empty() && !model.routing_counts())
    throw std::invalid_argument("SubsetEvaluator: the model has no Soft MoE layer and no sparse router");
  experts_ = layers.empty() ? 0 : layers.front().experts;
}

const float* SubsetEvaluator::inputs(int first) const {
  return test_.x.data() + static_cast<std::size_t>(first) * model_.input_size();
}

SelectionRow SubsetEvaluator::all_experts() {
  SelectionRow row(SelectionMethod::all, experts_);
  const int batch = model_.max_batch(), classes = model_.outputs();
  model_.reset_routing_counts();
  const auto start = std::chrono::steady_clock::now();
  long correct = 0;
  for (int first = 0; first < test_.count; first += batch) {
    const int B = std::min(batch, test_.count - first);
    correct += count_correct(model_.forward(inputs(first), B), test_.labels.data() + first, B, classes);
  }
  row.seconds = seconds_since(start);
  row.inputs = test_.count;
  row.accuracy = static_cast<double>(correct) / test_.count;
  row.work = full_forward_work(model_, test_.count);
  if (model_.routing_counts()) {  // what the sparse router did, as measured
    row.work.expert += model_.measured_expert_flops();
    row.work.total += model_.measured_expert_flops();
  }
  return row;
}

SelectionRow SubsetEvaluator::selected(SelectionMethod method, int k, Rng* rng) {
  if (method != SelectionMethod::topk && method != SelectionMethod::topk_renorm && method != SelectionMethod::random)
    throw std::invalid_argument("SubsetEvaluator::selected: topk, topk_renorm or random");
  if ((method == SelectionMethod::random) != (rng != nullptr))
    throw std::invalid_argument("SubsetEvaluator::selected: random subsets need an rng, and only they");
  SelectionRow row(method, k);
  const int batch = model_.max_batch(), classes = model_.outputs(), n = experts_;
  const ExpertChooser choose = [&](SelectionWorkspace& ws, int /*moe_layer*/, int B) {
    if (rng) keep_random(ws.keep.data(), B, n, k, *rng);
    else keep_top_k(ws.keep.data(), ws.scores.data(), B, n, k);
  };
  const bool renormalize = method == SelectionMethod::topk_renorm;
  const auto start = std::chrono::steady_clock::now();
  long correct = 0;
  for (int first = 0; first < test_.count; first += batch) {
    const int B = std::min(batch, test_.count - first);
    const float* logits = model_.forward_selected(inputs(first), B, choose, renormalize, &row.work);
    correct += count_correct(logits, test_.labels.data() + first, B, classes);
  }
  row.seconds = seconds_since(start);
  row.inputs = test_.count;
  row.accuracy = static_cast<double>(correct) / test_.count;
  row.work.total += test_.count * model_.dense_flops_per_input();
  return row;
}

}  // namespace softmoe
