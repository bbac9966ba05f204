#include "softmoe/eval/routing_stats.hpp"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <stdexcept>

#include "softmoe/layers/top_k.hpp"

namespace softmoe {
namespace {

std::size_t sz(long v) { return static_cast<std::size_t>(v); }

// (population sd / mean)^2; 0 for a zero mean.
double cv2(const std::vector<double>& v) {
  const double mean = std::accumulate(v.begin(), v.end(), 0.0) / static_cast<double>(v.size());
  if (mean == 0) return 0;
  double var = 0;
  for (double x : v) var += (x - mean) * (x - mean);
  var /= static_cast<double>(v.size());
  return var / (mean * mean);
}

double plogp(double p) { return p > 0 ? p * std::log(p) : 0.0; }

int argmax(const double* v, int n) {
  return static_cast<int>(std::max_element(v, v + n) - v);  // the first of equal maxima
}

}  // namespace

RoutingRecord empty_routing_record(int experts, int classes) {
  if (experts < 1 || classes < 1) throw std::invalid_argument("empty_routing_record: needs experts and classes");
  RoutingRecord r;
  r.experts = experts;
  r.classes = classes;
  r.token_top1.assign(sz(experts), 0.0);
  r.token_weight.assign(sz(experts), 0.0);
  return r;
}

void add_routing(RoutingRecord& record, const LayerRouting<float>& routing, const std::int32_t* labels, int B) {
  // combine, dispatch [B, m, n p]; record.weights grows by [B, n]
  const int n = record.experts, m = routing.tokens, p = routing.columns, S = n * p;
  if (routing.experts != n) throw std::logic_error("add_routing: the layer has another number of experts");
  std::vector<double> u(sz(n));
  for (int b = 0; b < B; ++b) {
    if (labels[b] < 0 || labels[b] >= record.classes) throw std::invalid_argument("add_routing: label out of range");
    record.labels.push_back(labels[b]);
    const std::size_t row = record.weights.size();
    record.weights.resize(row + sz(n), 0.0);
    double* w = record.weights.data() + row;
    for (int t = 0; t < m; ++t) {
      const float* c = routing.combine + (static_cast<long>(b) * m + t) * S;
      for (int j = 0; j < n; ++j) {
        double sum = 0;
        for (int s = 0; s < p; ++s) sum += c[j * p + s];
        u[sz(j)] = sum;
        w[j] += sum / m;
        record.token_weight[sz(j)] += sum;
      }
      record.token_top1[sz(argmax(u.data(), n))] += 1;
      record.max_combine_sum += *std::max_element(c, c + S);
    }
    if (routing.dispatch) {
      const float* d = routing.dispatch + static_cast<long>(b) * m * S;
      for (int s = 0; s < S; ++s) {
        float best = d[s];
        for (int t = 1; t < m; ++t) best = std::max(best, d[static_cast<long>(t) * S + s]);
        record.max_dispatch_sum += best;
      }
      record.dispatch_slots += S;
    }
  }
  record.tokens += static_cast<long>(B) * m;
  record.inputs += B;
}

std::vector<int> routing_subset_sizes(int experts) {
  std::vector<int> ks;
  for (int divisor : {8, 4, 2})
    if (experts / divisor >= 1 && (ks.empty() || ks.back() != experts / divisor)) ks.push_back(experts / divisor);
  return ks;
}

std::vector<std::int32_t> top_k_sets(const RoutingRecord& record, int k) {
  const int n = record.experts;
  if (k < 1 || k > n) throw std::invalid_argument("top_k_sets: k out of range");
  std::vector<std::int32_t> sets(sz(record.inputs) * sz(k));
  std::vector<int> top(sz(k)), scratch(sz(n));
  for (long i = 0; i < record.inputs; ++i) {
    top_k_descending(top.data(), record.weights.data() + i * n, 1, n, k, scratch.data());
    std::sort(top.begin(), top.end());
    std::copy(top.begin(), top.end(), sets.begin() + i * k);
  }
  return sets;
}

double changed_share(const std::vector<std::int32_t>& before, const std::vector<std::int32_t>& after, int k) {
  if (before.size() != after.size() || k < 1 || before.empty()) throw std::invalid_argument("changed_share: sets differ in size");
  const long inputs = static_cast<long>(before.size()) / k;
  long changed = 0;
  for (long i = 0; i < inputs; ++i)
    changed += !std::equal(before.begin() + i * k, before.begin() + (i + 1) * k, after.begin() + i * k);
  return static_cast<double>(changed) / static_cast<double>(inputs);
}

std::vector<RoutingStatistic> routing_statistics(const RoutingRecord& record) {
  const int n = record.experts, classes = record.classes;
  const long N = record.inputs;
  if (N == 0) throw std::invalid_argument("routing_statistics: no inputs");
  const double log_n = n > 1 ? std::log(static_cast<double>(n)) : 0.0;
  const int top_count = (n + 9) / 10;

  double entropy = 0, top_mass = 0;
  std::vector<double> importance(sz(n), 0.0), load(sz(n), 0.0), joint(sz(n) * sz(classes), 0.0);
  std::vector<double> class_count(sz(classes), 0.0), sorted(sz(n));
  for (long i = 0; i < N; ++i) {
    const double* w = record.weights.data() + i * n;
    double h = 0;
    for (int j = 0; j < n; ++j) {
      h -= plogp(w[j]);
      importance[sz(j)] += w[j];
      joint[sz(record.labels[sz(i)]) * sz(n) + sz(j)] += w[j] / static_cast<double>(N);
    }
    if (log_n > 0) entropy += h / log_n;
    std::partial_sort_copy(w, w + n, sorted.begin(), sorted.end(), std::greater<double>());
    top_mass += std::accumulate(sorted.begin(), sorted.begin() + top_count, 0.0);
    load[sz(argmax(w, n))] += 1;
    class_count[sz(record.labels[sz(i)])] += 1;
  }

  // I(E; Y) = H(E) - H(E | Y), with p(j, y) = joint[y, j]
  double h_y = 0, h_e = 0, h_e_given_y = 0;
  std::vector<int> class_expert(sz(classes), 0);
  for (int j = 0; j < n; ++j) {
    double p_j = 0;
    for (int y = 0; y < classes; ++y) p_j += joint[sz(y) * sz(n) + sz(j)];
    h_e -= plogp(p_j);
  }
  for (int y = 0; y < classes; ++y) {
    const double p_y = class_count[sz(y)] / static_cast<double>(N);
    h_y -= plogp(p_y);
    const double* row = joint.data() + sz(y) * sz(n);
    for (int j = 0; j < n; ++j)
      if (p_y > 0) h_e_given_y -= p_y * plogp(row[j] / p_y);
    class_expert[sz(y)] = argmax(row, n);
  }
  const double mi = std::max(0.0, h_e - h_e_given_y);

  double balance = 0;
  for (int j = 0; j < n; ++j)
    balance += (record.token_top1[sz(j)] / record.tokens) * (record.token_weight[sz(j)] / record.tokens);

  std::vector<RoutingStatistic> stats{
      {"entropy", 0, entropy / N},
      {"top10_mass", 0, top_mass / N},
      {"importance_cv2", 0, cv2(importance)},
      {"load_cv2", 0, cv2(load)},
      {"switch_balance", 0, n * balance},
      {"class_mi", 0, h_y > 0 ? mi / h_y : 0.0},
      {"class_entropy", 0, log_n > 0 ? h_e_given_y / log_n : 0.0},
      {"max_combine", 0, record.max_combine_sum / record.tokens},
  };
  if (record.dispatch_slots > 0) stats.push_back({"max_dispatch", 0, record.max_dispatch_sum / record.dispatch_slots});
  for (int k : routing_subset_sizes(n)) {
    const std::vector<std::int32_t> sets = top_k_sets(record, k);
    long hits = 0;
    for (long i = 0; i < N; ++i) {
      const auto first = sets.begin() + i * k;
      hits += std::binary_search(first, first + k, class_expert[sz(record.labels[sz(i)])]);
    }
    stats.push_back({"class_expert_in_topk", k, static_cast<double>(hits) / N});
  }
  return stats;
}

}  // namespace softmoe
