#pragma once
// Routing statistics of one MoE layer over a labelled set (specialisation; the formulas of
// shared notes "sparse-routers", section "Routing statistics"). Per input x_i (N inputs, m tokens each),
// its routing vector over the n experts is
//   w_j(x_i) = (1/m) sum_t u_j(t),   u_j(t) = sum of token t's combine weights on expert j's columns
// (Soft MoE: C summed over the expert's p slots; sparse routers: the gate g, before any selection).
// Natural logarithms; normalised entropies divide by ln n (0 when n = 1).
#include <cstdint>
#include <string>
#include <vector>

#include "softmoe/models/model.hpp"

namespace softmoe {

// What the statistics need, gathered batch by batch from LayerRouting (add_routing).
struct RoutingRecord {
  int experts = 0;
  int classes = 0;
  long inputs = 0;
  std::vector<double> weights;        // [inputs, n]  w_j(x_i)
  std::vector<std::int32_t> labels;   // [inputs]
  std::vector<double> token_top1;     // [n]  tokens whose largest u_j is expert j (ties: lower j)
  std::vector<double> token_weight;   // [n]  sum over tokens of u_j
  long tokens = 0;
  double max_combine_sum = 0;         // sum over tokens of the largest combine column
  double max_dispatch_sum = 0;        // sum over inputs and slots of max_t D[t, s] (Soft MoE)
  long dispatch_slots = 0;            // input-slot pairs in max_dispatch_sum; 0 for sparse routers
};

RoutingRecord empty_routing_record(int experts, int classes);

// Adds B inputs' routing with their labels (each in 0 .. classes - 1).
void add_routing(RoutingRecord& record, const LayerRouting<float>& routing, const std::int32_t* labels, int B);

// Subset sizes the k-dependent statistics use: n/8, n/4, n/2 (integer division), those >= 1, ascending,
// without repeats.
std::vector<int> routing_subset_sizes(int experts);

// Each input's top-k experts by w_j(x_i) (ties to the lower index), sorted ascending: [inputs, k].
std::vector<std::int32_t> top_k_sets(const RoutingRecord& record, int k);

// Share of inputs whose top-k set differs between two top_k_sets results of the same k and inputs.
double changed_share(const std::vector<std::int32_t>& before, const std::vector<std::int32_t>& after, int k);

struct RoutingStatistic {
  std::string name;
  int k = 0;  // 0: not a k-dependent statistic
  double value = 0;
};

// The statistics, in this order (names as in the CSVs):
//   entropy           mean_i H(w(x_i)) / ln n                       (1 uniform, 0 one expert)
//   top10_mass        mean_i of the mass of the ceil(n / 10) largest w_j(x_i)
//   importance_cv2    CV2 of Imp_j = sum_i w_j(x_i)                  (CV2 = (population sd / mean)^2)
//   load_cv2          CV2 of Load_j = inputs whose largest w_j is j
//   switch_balance    n sum_j f_j P_j over tokens (f_j: share of tokens whose largest u is j; P_j: mean u_j);
//                     1 when balanced
//   class_mi          I(E; Y) / H(Y), p(j, y) = (1/N) sum_{i: y_i = y} w_j(x_i)   (1: one expert per class)
//   class_entropy     H(E | Y) / ln n: how spread each class's allocation is (p(y)-weighted)
//   max_combine       mean over tokens of the token's largest combine column (slot or gate)
//   max_dispatch      mean over inputs and slots of the slot's largest dispatch weight (Soft MoE only)
//   class_expert_in_topk (k)  share of inputs whose top-k set holds their class's expert, argmax_j p(j, y)
//                     (ties: lower j); one per k of routing_subset_sizes
std::vector<RoutingStatistic> routing_statistics(const RoutingRecord& record);

}  // namespace softmoe
