#include "softmoe/eval/oracle.hpp"

#include <algorithm>
#include <chrono>
#include <vector>

#include "softmoe/layers/expert_selection.hpp"

namespace softmoe {
namespace {

int argmax(const float* v, int count) { return static_cast<int>(std::max_element(v, v + count) - v); }

// Depth-first over subsets in increasing expert order; sums [k + 1, classes] hold the running logits.
bool search(const float* contributions, int n, int classes, int k, int label, int next, int depth,
            std::vector<float>& sums) {
  const float* current = sums.data() + static_cast<long>(depth) * classes;
  if (depth == k) return argmax(current, classes) == label;
  for (int e = next; e <= n - (k - depth); ++e) {
    float* child = sums.data() + static_cast<long>(depth + 1) * classes;
    const float* c = contributions + static_cast<long>(e) * classes;
    for (int j = 0; j < classes; ++j) child[j] = current[j] + c[j];
    if (search(contributions, n, classes, k, label, e + 1, depth + 1, sums)) return true;
  }
  return false;
}

}  // namespace

void expert_logit_contributions(float* contributions, const float* combine, const float* slot_out,
                                const float* head_weight, int B, const SoftMoeShape& s, int classes,
                                float* scratch) {
  const int m = s.tokens, n = s.experts, p = s.slots, S = s.total_slots(), d_out = s.dim_out;
  const long width = static_cast<long>(m) * d_out;
  for (int b = 0; b < B; ++b)
    for (int e = 0; e < n; ++e) {
      std::fill(scratch, scratch + width, 0.0f);
      for (int q = 0; q < p; ++q) {
        const float* ys = slot_out + ((static_cast<long>(e) * B + b) * p + q) * d_out;
        for (int i = 0; i < m; ++i) {
          const float c = combine[(static_cast<long>(b) * m + i) * S + e * p + q];
          for (int k = 0; k < d_out; ++k) scratch[i * d_out + k] += c * ys[k];
        }
      }
      float* out = contributions + (static_cast<long>(b) * n + e) * classes;
      for (int j = 0; j < classes; ++j) {
        const float* wrow = head_weight + j * width;
        float dot = 0.0f;
        for (long k = 0; k < width; ++k) dot += wrow[k] * scratch[k];
        out[j] = dot;
      }
    }
}

bool subset_correct(const float* contributions, const float* bias, int n, int classes, int label,
                    const std::uint8_t* keep) {
  std::vector<float> logits(static_cast<std::size_t>(classes), 0.0f);
  if (bias) std::copy(bias, bias + classes, logits.begin());
  for (int e = 0; e < n; ++e)
    if (keep[e])
      for (int j = 0; j < classes; ++j) logits[j] += contributions[static_cast<long>(e) * classes + j];
  return argmax(logits.data(), classes) == label;
}

bool some_subset_correct(const float* contributions, const float* bias, int n, int classes, int k, int label,
                         const std::uint8_t* first_try) {
  if (first_try && subset_correct(contributions, bias, n, classes, label, first_try)) return true;
  std::vector<float> sums(static_cast<std::size_t>(k + 1) * classes, 0.0f);
  if (bias) std::copy(bias, bias + classes, sums.begin());
  return search(contributions, n, classes, k, label, 0, 0, sums);
}

double binomial(int n, int k) {
  double result = 1.0;
  for (int j = 1; j <= k; ++j) result = result * (n - k + j) / j;
  return result;
}

SelectionRow oracle_row(MoeModel<float>& model, const TokenDataset& test, int k, int inputs) {
  SelectionRow row(SelectionMethod::oracle, k);
  const SoftMoeShape& shape = model.config().moe;
  const int n = shape.experts, classes = model.outputs(), batch = model.max_batch();
  auto& params = model.params();
  const float* head_weight = params.value(*params.find("head.weight"));
  const auto bias_id = params.find("head.bias");
  const float* head_bias = bias_id ? params.value(*bias_id) : nullptr;
  SoftMoeActivations<float>& act = model.moe_activations();
  act.store_slots = true;  // the contributions need the slot outputs of the unmasked forward

  const auto start = std::chrono::steady_clock::now();
  std::vector<float> contributions(static_cast<std::size_t>(batch) * n * classes);
  std::vector<float> scratch(static_cast<std::size_t>(shape.tokens) * shape.dim_out);
  std::vector<float> scores(static_cast<std::size_t>(batch) * n);
  std::vector<std::uint8_t> keep(static_cast<std::size_t>(batch) * n);
  long some = 0, topk_too = 0;
  for (int first = 0; first < inputs; first += batch) {
    const int B = std::min(batch, inputs - first);
    model.forward(test.x.data() + static_cast<std::size_t>(first) * model.input_size(), B);
    expert_logit_contributions(contributions.data(), act.combine.data(), act.slot_out.data(), head_weight, B, shape,
                               classes, scratch.data());
    expert_scores(scores.data(), act.combine.data(), B, shape.tokens, n, shape.slots);
    keep_top_k(keep.data(), scores.data(), B, n, k);
    for (int b = 0; b < B; ++b) {
      const float* contribution = contributions.data() + static_cast<long>(b) * n * classes;
      const std::uint8_t* top = keep.data() + static_cast<long>(b) * n;
      const int label = test.labels[first + b];
      if (!some_subset_correct(contribution, head_bias, n, classes, k, label, top)) continue;
      ++some;
      topk_too += subset_correct(contribution, head_bias, n, classes, label, top);
    }
  }
  row.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  row.inputs = inputs;
  row.accuracy = static_cast<double>(some) / inputs;
  row.topk_is_oracle = some > 0 ? static_cast<double>(topk_too) / some : 0.0;
  row.work = full_forward_work(model, inputs);
  return row;
}

}  // namespace softmoe
