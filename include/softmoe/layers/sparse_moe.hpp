#pragma once
// A sparsely routed MoE layer: Tokens Choice (each token picks its top-K experts), Experts Choice (each
// expert picks its top-C tokens) or dense (one expert takes every token with weight 1). Per group of G
// consecutive examples (S = G m tokens; a partial last group is routed on its own, with its own capacity):
//   L  = X W                        [S, n]   router logits, no bias, no normalisation
//   Ln = L + noise                  [S, n]   training only: noise drawn with std noise_std / n
//   g  = softmax_experts(Ln)        [S, n]   gates, taken before any selection, never renormalised
//   keep[s, e] in {0, 1}                     the router's selection (piecewise constant)
//   Y[s] = sum_e keep[s, e] g[s, e] f_e(X[s])        f_e = Linear(d -> h) -> act -> Linear(h -> d_out)
// A token that no expert keeps gets Y[s] = 0 (the layer has no residual of its own).
// Tokens Choice capacity per expert and group: C = ceil(S K c / n) (multiple of 1); pairs are offered
// rank-major (every token's first choice before any second choice), within a rank in token order or, with
// BPR, by the token's top-1 gate, descending; a pair past its expert's capacity contributes 0.
// Experts Choice: C = max(1, round(S c / n)), at most S; expert e keeps the C tokens with the largest g[:, e].
// Auxiliary losses (Tokens Choice): aux_loss.hpp, per group, averaged over groups, times aux_weight.
//
// Batched layouts: x [B, m, d], y [B, m, d_out], logits and gates [B m, n]. Kept pairs are packed by
// expert (expert e's rows are rows offset[e] .. offset[e + 1], in token order), so each expert runs as one
// GEMM pair over all the tokens it kept in the batch. Gradients flow through the kept gates and the
// softmax, never through the selection.
#include <cstddef>
#include <cstdint>
#include <string>

#include "softmoe/layers/activation.hpp"
#include "softmoe/names.hpp"
#include "softmoe/params.hpp"
#include "softmoe/tensor.hpp"

namespace softmoe {

enum class SparseRouting { tokens_choice, experts_choice, dense };
enum class AuxLoss { importance_load, switch_balance, none };

inline constexpr EnumName<SparseRouting> kSparseRoutingNames[] = {{SparseRouting::tokens_choice, "tokens-choice"},
                                                                  {SparseRouting::experts_choice, "experts-choice"},
                                                                  {SparseRouting::dense, "dense"}};
inline const char* to_string(SparseRouting value) { return name_of(value, kSparseRoutingNames); }
inline constexpr EnumName<AuxLoss> kAuxLossNames[] = {
    {AuxLoss::importance_load, "importance,load"}, {AuxLoss::switch_balance, "switch"}, {AuxLoss::none, "none"}};
inline const char* to_string(AuxLoss value) { return name_of(value, kAuxLossNames); }

struct SparseMoeShape {
  SparseRouting routing = SparseRouting::tokens_choice;
  int tokens = 0;   // m, per example
  int dim = 0;      // d
  int experts = 0;  // n (1 for dense)
  int hidden = 0;   // h, each expert's hidden width
  int dim_out = 0;  // d_out
  bool expert_bias = false;
  Activation activation = Activation::relu;
  int k = 1;                     // Tokens Choice: experts per token
  double capacity_factor = 1.0;  // c
  int group_images = 8;          // G
  bool bpr = false;              // Tokens Choice: batch priority routing
  double noise_std = 0.0;        // training noise, std noise_std / n; 0: none
  AuxLoss aux = AuxLoss::none;   // Tokens Choice only
  double aux_weight = 0.0;

  bool routed() const { return routing != SparseRouting::dense; }
  int group_tokens(int examples) const { return examples * tokens; }  // S of a group of `examples`
};

// Capacity per expert of a group of S tokens (Tokens Choice: ceil(S K c / n); Experts Choice:
// max(1, round(S c / n)) capped at S; dense: S).
int sparse_capacity(const SparseMoeShape& shape, int S);
// Experts Choice capacity before the floor of 1: round(S c / n), 0 when too small a group.
int experts_choice_rounded_capacity(const SparseMoeShape& shape, int S);

// Parameters of the layer's experts (w1, w2 and, with biases, b1, b2).
std::size_t sparse_expert_params(const SparseMoeShape& shape);

// Pointers into a ParamBuffer (values or gradients). Layouts are the checkpoint contract: router.weight
// [d, n] (absent for dense), experts.w1 [n, d, h], experts.b1 [n, h], experts.w2 [n, h, d_out],
// experts.b2 [n, d_out]; biases null without expert biases, router null for dense.
template <class T>
struct SparseMoeTensors {
  T* router = nullptr;
  T* w1 = nullptr;
  T* b1 = nullptr;
  T* w2 = nullptr;
  T* b2 = nullptr;
};

struct SparseMoeParamIds {
  std::size_t router = 0, w1 = 0, w2 = 0, b1 = 0, b2 = 0;

  template <class T>
  SparseMoeTensors<T> values(ParamBuffer<T>& params, const SparseMoeShape& shape) const;
  template <class T>
  SparseMoeTensors<T> grads(ParamBuffer<T>& params, const SparseMoeShape& shape) const;
};

template <class T>
SparseMoeParamIds sparse_moe_register(ParamBuffer<T>& params, const SparseMoeShape& shape,
                                      const std::string& prefix = "");

// Router normal with std 1/sqrt(d); expert weights and biases as PyTorch's nn.Linear default.
class Rng;
template <class T>
void sparse_moe_init(SparseMoeTensors<T> w, const SparseMoeShape& shape, Rng& rng);

// What the router did, summed over the groups of one or more forward calls.
struct RoutingCounts {
  long groups = 0;
  long tokens = 0;
  long choices = 0;         // Tokens Choice: token-expert pairs asked for (S K per group); else tokens
  long dropped = 0;         // Tokens Choice: pairs past capacity; Experts Choice: tokens no expert took
  long kept = 0;            // token-expert pairs the experts ran on
  long capacity = 0;        // sum over groups of n C
  long min_per_expert = -1; // fewest / most tokens one expert kept in one group (-1: no group yet)
  long max_per_expert = -1;
  double aux_loss = 0;      // sum over forward calls of the weighted auxiliary loss
  long forward_calls = 0;

  void add(const RoutingCounts& other);
  double drop_rate() const { return choices > 0 ? static_cast<double>(dropped) / choices : 0.0; }
  // n C over the pairs asked for (Tokens Choice: S K; Experts Choice: S).
  double mean_aux_loss() const { return forward_calls > 0 ? aux_loss / forward_calls : 0.0; }
  double realised_capacity_factor() const { return choices > 0 ? static_cast<double>(capacity) / choices : 0.0; }
};

// Forward's record for backward plus the scratch of both passes, sized once for max_batch: a training
// step allocates nothing.
template <class T>
struct SparseMoeActivations {
  SparseMoeActivations(const SparseMoeShape& shape, int max_batch);

  SparseMoeShape shape;
  int max_batch;
  long max_rows;                 // bound on kept pairs in one batch
  Buffer<T> logits;              // [B m, n]  clean
  Buffer<T> gates;               // [B m, n]  softmax of the noisy logits
  Buffer<T> clean_probs;         // [B m, n]  softmax of the clean logits (noise with importance loss)
  Buffer<T> noisy;               // [B m, n]  logits + noise (noise only)
  Buffer<std::uint8_t> kept;     // [B m, n]
  Buffer<int> choice;            // [B m, K]  Tokens Choice: each token's experts, best first
  Buffer<int> order;             // [G m]     Tokens Choice: the order tokens are offered in
  Buffer<int> count;             // [n]       per-group fill counts
  Buffer<int> candidates;        // [max(n, G m)] top-k scratch
  Buffer<long> offset;           // [n + 1]   rows of expert e: offset[e] .. offset[e + 1]
  Buffer<long> cursor;           // [n]
  Buffer<int> row_token;         // [max_rows] token (index into B m) of each kept pair
  Buffer<T> row_gate;            // [max_rows] its gate
  Buffer<T> expert_in;           // [max_rows, d]
  Buffer<T> hidden_pre;          // [max_rows, h]
  Buffer<T> hidden;              // [max_rows, h]
  Buffer<T> expert_out;          // [max_rows, d_out]
  Buffer<T> dexpert_out;         // [max_rows, d_out]
  Buffer<T> dhidden;             // [max_rows, h]
  Buffer<T> dhidden_pre;         // [max_rows, h]
  Buffer<T> dexpert_in;          // [max_rows, d]
  Buffer<T> dgates;              // [B m, n]
  Buffer<T> dclean;              // [B m, n]  gradient of the clean softmax (importance loss with noise)
  Buffer<T> dlogits;             // [B m, n]
  Buffer<T> aux_scratch;         // [2 n]
  Buffer<int> aux_iscratch;      // [2 n]
  bool noise_applied = false;    // the last forward added noise
  T aux = 0;                     // unweighted auxiliary loss of the last forward
  RoutingCounts last;            // counts of the last forward
};

// y [B, m, d_out] from x [B, m, d]; noise [B m, n] already scaled (null: none). B <= act.max_batch.
template <class T>
void sparse_moe_forward(T* y, SparseMoeActivations<T>& act, const T* x, const T* noise,
                        const SparseMoeTensors<T>& w, int B);

// Accumulates parameter gradients into g and, when dx is not null, input gradients into dx [B, m, d], of
// sum(y * dy) + aux_weight * aux. Needs the activations of the matching forward call.
template <class T>
void sparse_moe_backward(T* dx, const SparseMoeTensors<T>& g, const T* dy, SparseMoeActivations<T>& act,
                         const T* x, const SparseMoeTensors<T>& w, int B);

// The selection alone (sparse_routing.cpp): fills act.kept, the packed rows (offset, row_token, row_gate)
// and act.last from act.gates, for B examples.
template <class T>
void sparse_select(SparseMoeActivations<T>& act, int B);

}  // namespace softmoe
