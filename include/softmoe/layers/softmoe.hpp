#pragma once
// The Soft MoE layer (Puigcerver et al.), per example X [m, d], n experts with p slots each, S = n p:
//   L  = Xr Phir            [m, S]   router logits
//   D  = softmax_tokens(L)  [m, S]   dispatch: each column sums to 1
//   C  = softmax_slots(L)   [m, S]   combine:  each row sums to 1
//   Xs = D^T Xe             [S, d]   slot inputs
//   Ys[s] = f_{s / p}(Xs[s])         expert e = Linear(d -> h) -> activation -> Linear(h -> d_out)
//   Y  = C Ys               [m, d_out]
// Normalisation: none (Xr = Xe = X, Phir = Phi); router (Xr = tokens / (||token|| + eps),
// Phir = scale * Phi columns / (||column|| + eps), Xe = X); all (as router, and Xe = Xr).
//
// Batched layouts (B examples): x, y [B, m, d]; logits, dispatch, combine [B, m, S];
// slot tensors [n, B, p, width], so that each expert's rows form one contiguous [B p, width] block and
// every expert runs as one GEMM pair over a block of examples (never one call per example).
#include <cstddef>
#include <string>

#include "softmoe/layers/activation.hpp"
#include "softmoe/names.hpp"
#include "softmoe/params.hpp"
#include "softmoe/tensor.hpp"

namespace softmoe {

enum class Normalize { none, router, all };
// The Soft MoE paper's routing ablations (its appendix): D and/or C replaced by constants. uniform:
// D = 1/m, C = 1/S; identity (n p = m): token t is slot t's only input and output (D = C = I). A constant
// D or C passes no gradient to the router.
enum class Mixing { soft, soft_uniform_combine, uniform_soft, uniform, identity };
inline constexpr EnumName<Mixing> kMixingNames[] = {{Mixing::soft, "soft"},
                                                   {Mixing::soft_uniform_combine, "soft-uniform-combine"},
                                                   {Mixing::uniform_soft, "uniform-soft"},
                                                   {Mixing::uniform, "uniform"},
                                                   {Mixing::identity, "identity"}};
inline const char* to_string(Mixing value) { return name_of(value, kMixingNames); }
enum class PhiInit { uniform, normal };

inline constexpr EnumName<Normalize> kNormalizeNames[] = {
    {Normalize::none, "none"}, {Normalize::router, "router"}, {Normalize::all, "all"}};
inline constexpr EnumName<PhiInit> kPhiInitNames[] = {{PhiInit::uniform, "uniform"}, {PhiInit::normal, "normal"}};

// throw std::invalid_argument naming the known names
inline Normalize parse_normalize(const std::string& name) {
  return value_named(name, kNormalizeNames, "normalisation");
}
inline PhiInit parse_phi_init(const std::string& name) { return value_named(name, kPhiInitNames, "Phi initialisation"); }
inline const char* to_string(Normalize value) { return name_of(value, kNormalizeNames); }
inline const char* to_string(PhiInit value) { return name_of(value, kPhiInitNames); }

inline constexpr double kNormEps = 1e-6;  // added to every l2 norm before dividing

struct SoftMoeShape {
  int tokens = 0;   // m
  int dim = 0;      // d
  int experts = 0;  // n
  int slots = 1;    // p, slots per expert
  int hidden = 0;   // h, each expert's hidden width
  int dim_out = 0;  // d_out
  bool expert_bias = false;
  Activation activation = Activation::relu;
  Normalize normalize = Normalize::router;
  Mixing mixing = Mixing::soft;

  int total_slots() const { return experts * slots; }
  bool soft_dispatch() const { return mixing == Mixing::soft || mixing == Mixing::soft_uniform_combine; }
  bool soft_combine() const { return mixing == Mixing::soft || mixing == Mixing::uniform_soft; }
};

// Parameters of the layer's n experts: w1, w2 and, with expert biases, b1, b2.
inline std::size_t softmoe_expert_params(const SoftMoeShape& s) {
  const std::size_t d = static_cast<std::size_t>(s.dim), h = static_cast<std::size_t>(s.hidden),
                    d_out = static_cast<std::size_t>(s.dim_out);
  return static_cast<std::size_t>(s.experts) * (d * h + h * d_out + (s.expert_bias ? h + d_out : 0));
}

// Pointers to the layer's tensors inside a ParamBuffer (values or gradients). b1, b2 are null without
// expert biases. Layouts are the checkpoint contract: phi [d, S], scale [1], w1 [n, d, h], b1 [n, h],
// w2 [n, h, d_out], b2 [n, d_out].
template <class T>
struct SoftMoeTensors {
  T* phi = nullptr;
  T* scale = nullptr;
  T* w1 = nullptr;
  T* b1 = nullptr;
  T* w2 = nullptr;
  T* b2 = nullptr;
};

struct SoftMoeParamIds {
  std::size_t phi, scale, w1, w2;
  std::size_t b1 = 0, b2 = 0;  // valid only with expert biases

  template <class T>
  SoftMoeTensors<T> values(ParamBuffer<T>& params, const SoftMoeShape& shape) const;
  template <class T>
  SoftMoeTensors<T> grads(ParamBuffer<T>& params, const SoftMoeShape& shape) const;
};

// Registers router.phi, router.scale, experts.w1/w2 (and b1/b2) under `prefix`.
template <class T>
SoftMoeParamIds softmoe_register(ParamBuffer<T>& params, const SoftMoeShape& shape,
                                 const std::string& prefix = "");

// Phi uniform in [-1, 1] or normal with std 1/sqrt(d); scale 1; expert weights and biases as PyTorch's
// nn.Linear default (uniform in +-1/sqrt(fan_in)).
class Rng;
template <class T>
void softmoe_init(SoftMoeTensors<T> w, const SoftMoeShape& shape, PhiInit phi_init, Rng& rng);

// Everything forward keeps for backward, plus the scratch of both passes; sized once for max_batch so
// that a training step allocates nothing. Both passes split the examples over the engine's threads
// (kernels/parallel.hpp); each thread takes its examples in blocks small enough to stay in cache and
// runs every expert on a block (one GEMM pair over the block's [B_block p, width] slot rows), four
// experts at a time, so the slot tensors need not be written to memory: backward recomputes a block's
// slot inputs and outputs when it needs them.
template <class T>
struct SoftMoeActivations {
  SoftMoeActivations(const SoftMoeShape& shape, int max_batch);

  // Sizes the per-thread scratch for `threads` threads; allocates only when that count grows.
  void reserve_scratch(int threads);

  SoftMoeShape shape;
  int max_batch;
  // When true (the default), forward also fills slot_in and slot_out, which expert selection reads
  // after an unmasked forward; training turns it off (backward does not need them).
  bool store_slots = true;
  // Set by forward: slot_in / slot_out hold this batch's slot tensors (slot_out is also kept, instead of
  // recomputed by backward, when the experts are wide enough for that to be cheaper).
  bool kept_slot_in = false, kept_slot_out = false;
  Buffer<T> xr;          // [B, m, d]  normalised tokens (router, all)
  Buffer<T> token_norm;  // [B, m]
  Buffer<T> phir;        // [d, S]     normalised, scaled router weights
  Buffer<T> phi_norm;    // [S]
  Buffer<T> logits;      // [B, m, S]  forward: L; backward: dL
  Buffer<T> dispatch;    // [B, m, S]
  Buffer<T> combine;     // [B, m, S]
  Buffer<T> slot_in;     // [n, B, p, d]      with store_slots
  Buffer<T> hidden_pre;  // [n, B, p, h]
  Buffer<T> hidden;      // [n, B, p, h]
  Buffer<T> slot_out;    // [n, B, p, d_out]  with store_slots (or kept_slot_out)
  // per-thread scratch (threads = scratch_threads), for a group of G = 4 experts' slot rows over one
  // block of examples
  int scratch_threads = 0;
  Buffer<T> block_in;    // [threads, G, B p, d]      slot inputs
  Buffer<T> block_out;   // [threads, G, B p, d_out]  slot outputs
  Buffer<T> dslot_out;   // [threads, G, B p, d_out]
  Buffer<T> dslot_in;    // [threads, G, B p, d]
  Buffer<T> dhidden;     // [threads, B p, h]  gradient of the activation output
  Buffer<T> dhidden_pre; // [threads, B p, h]  gradient of the pre-activation
  Buffer<T> edge_rows;   // [threads, 2, max(d, d_out)]  a zero row and a spare row (padding)
  Buffer<T> dexperts;    // [threads - 1, expert parameters] expert gradients of threads 1.. (added in order)
  Buffer<T> w1_t;        // [n, h, d]      w1 transposed, for backward's dslot_in = dhidden_pre w1^T (small h)
  Buffer<T> w2_t;        // [n, d_out, h]  w2 transposed, for backward's dhidden = dslot_out w2^T (small h)
  Buffer<T> ddispatch;   // [B, m, S]
  Buffer<T> dcombine;    // [B, m, S]
  Buffer<T> dxr;         // [B, m, d]
  Buffer<T> dphir;       // [d, S]
};

// y [B, m, d_out] from x [B, m, d]. B <= act.max_batch.
template <class T>
void softmoe_forward(T* y, SoftMoeActivations<T>& act, const T* x, const SoftMoeTensors<T>& w,
                     const SoftMoeShape& shape, int B);

// Accumulates parameter gradients into g and, when dx is not null, input gradients into dx [B, m, d].
// Needs the activations of the matching forward call.
template <class T>
void softmoe_backward(T* dx, const SoftMoeTensors<T>& g, const T* dy, SoftMoeActivations<T>& act,
                      const T* x, const SoftMoeTensors<T>& w, const SoftMoeShape& shape, int B);

}  // namespace softmoe
