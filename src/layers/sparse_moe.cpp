#include "softmoe/layers/sparse_moe.hpp"

#include <algorithm>
#include <cmath>

#include "softmoe/kernels/gemm.hpp"
#include "softmoe/kernels/parallel.hpp"
#include "softmoe/layers/aux_loss.hpp"
#include "softmoe/layers/expert_init.hpp"
#include "softmoe/layers/routing.hpp"
#include "softmoe/rng.hpp"

namespace softmoe {

using kernels::gemm;
using kernels::gemm_parallel;
using kernels::Trans;

void RoutingCounts::add(const RoutingCounts& o) {
  groups += o.groups;
  tokens += o.tokens;
  choices += o.choices;
  dropped += o.dropped;
  kept += o.kept;
  capacity += o.capacity;
  if (o.min_per_expert >= 0)
    min_per_expert = min_per_expert < 0 ? o.min_per_expert : std::min(min_per_expert, o.min_per_expert);
  max_per_expert = std::max(max_per_expert, o.max_per_expert);
  aux_loss += o.aux_loss;
  forward_calls += o.forward_calls;
}

std::size_t sparse_expert_params(const SparseMoeShape& s) {
  const std::size_t d = s.dim, h = s.hidden, d_out = s.dim_out;
  return static_cast<std::size_t>(s.experts) * (d * h + h * d_out + (s.expert_bias ? h + d_out : 0));
}

template <class T>
SparseMoeTensors<T> SparseMoeParamIds::values(ParamBuffer<T>& params, const SparseMoeShape& s) const {
  return {s.routed() ? params.value(router) : nullptr, params.value(w1), s.expert_bias ? params.value(b1) : nullptr,
          params.value(w2), s.expert_bias ? params.value(b2) : nullptr};
}

template <class T>
SparseMoeTensors<T> SparseMoeParamIds::grads(ParamBuffer<T>& params, const SparseMoeShape& s) const {
  return {s.routed() ? params.grad(router) : nullptr, params.grad(w1), s.expert_bias ? params.grad(b1) : nullptr,
          params.grad(w2), s.expert_bias ? params.grad(b2) : nullptr};
}

template <class T>
SparseMoeParamIds sparse_moe_register(ParamBuffer<T>& params, const SparseMoeShape& s, const std::string& prefix) {
  const std::size_t n = s.experts, d = s.dim, h = s.hidden, d_out = s.dim_out;
  SparseMoeParamIds ids;
  if (s.routed()) ids.router = params.add(prefix + "router.weight", {d, n});
  ids.w1 = params.add(prefix + "experts.w1", {n, d, h});
  if (s.expert_bias) ids.b1 = params.add(prefix + "experts.b1", {n, h});
  ids.w2 = params.add(prefix + "experts.w2", {n, h, d_out});
  if (s.expert_bias) ids.b2 = params.add(prefix + "experts.b2", {n, d_out});
  return ids;
}

template <class T>
void sparse_moe_init(SparseMoeTensors<T> w, const SparseMoeShape& s, Rng& rng) {
  const long n = s.experts, d = s.dim, h = s.hidden, d_out = s.dim_out;
  const double router_std = 1.0 / std::sqrt(static_cast<double>(d));
  if (w.router)
    for (long i = 0; i < d * n; ++i) w.router[i] = static_cast<T>(router_std * rng.normal());
  experts_init(w.w1, w.b1, w.w2, w.b2, n, d, h, d_out, rng);
}

namespace {

long max_kept_rows(const SparseMoeShape& s, int B) {
  const long tokens = static_cast<long>(B) * s.tokens;
  if (s.routing == SparseRouting::tokens_choice) return tokens * s.k;
  if (s.routing == SparseRouting::dense) return tokens;
  const int G = std::min(s.group_images, B);
  const long groups = (B + G - 1) / G;
  return groups * s.experts * static_cast<long>(sparse_capacity(s, s.group_tokens(G)));
}

// Expert e over the R tokens it kept (rows offset[e] .. offset[e + 1] of the packed buffers):
//   expert_in [R, d] (gathered from x) -> hidden_pre, hidden [R, h] -> expert_out [R, d_out]
template <class T>
void expert_forward(SparseMoeActivations<T>& a, const T* x, const SparseMoeTensors<T>& w, int e) {
  const SparseMoeShape& s = a.shape;
  const long r0 = a.offset[e], rows = a.offset[e + 1] - r0;
  if (rows == 0) return;
  const int d = s.dim, h = s.hidden, d_out = s.dim_out;
  T* in = a.expert_in.data() + r0 * d;
  for (long r = 0; r < rows; ++r) std::copy_n(x + static_cast<long>(a.row_token[r0 + r]) * d, d, in + r * d);
  T* pre = a.hidden_pre.data() + r0 * h;
  T* out = a.expert_out.data() + r0 * d_out;
  if (w.b1)
    for (long r = 0; r < rows; ++r) std::copy_n(w.b1 + static_cast<long>(e) * h, h, pre + r * h);
  gemm(Trans::no, Trans::no, static_cast<int>(rows), h, d, T(1), in, d, w.w1 + static_cast<long>(e) * d * h, h,
       w.b1 ? T(1) : T(0), pre, h);
  activation_forward(a.hidden.data() + r0 * h, pre, static_cast<std::size_t>(rows * h), s.activation);
  if (w.b2)
    for (long r = 0; r < rows; ++r) std::copy_n(w.b2 + static_cast<long>(e) * d_out, d_out, out + r * d_out);
  gemm(Trans::no, Trans::no, static_cast<int>(rows), d_out, h, T(1), a.hidden.data() + r0 * h, h,
       w.w2 + static_cast<long>(e) * h * d_out, d_out, w.b2 ? T(1) : T(0), out, d_out);
}

// Expert e's backward: dexpert_out [R, d_out] -> dhidden, dhidden_pre [R, h] -> dexpert_in [R, d], and its
// parameter gradients (accumulated).
template <class T>
void expert_backward(SparseMoeActivations<T>& a, const SparseMoeTensors<T>& g, const SparseMoeTensors<T>& w, int e) {
  const SparseMoeShape& s = a.shape;
  const long r0 = a.offset[e], rows = a.offset[e + 1] - r0;
  if (rows == 0) return;
  const int d = s.dim, h = s.hidden, d_out = s.dim_out, R = static_cast<int>(rows);
  const T* dout = a.dexpert_out.data() + r0 * d_out;
  T* dh = a.dhidden.data() + r0 * h;
  gemm(Trans::no, Trans::yes, R, h, d_out, T(1), dout, d_out, w.w2 + static_cast<long>(e) * h * d_out, d_out, T(0), dh, h);
  gemm(Trans::yes, Trans::no, h, d_out, R, T(1), a.hidden.data() + r0 * h, h, dout, d_out, T(1),
       g.w2 + static_cast<long>(e) * h * d_out, d_out);
  if (g.b2)
    for (long r = 0; r < rows; ++r)
      for (int j = 0; j < d_out; ++j) g.b2[static_cast<long>(e) * d_out + j] += dout[r * d_out + j];
  T* dpre = a.dhidden_pre.data() + r0 * h;
  activation_gradient(dpre, dh, a.hidden_pre.data() + r0 * h, static_cast<std::size_t>(rows * h), s.activation);
  dh = dpre;
  gemm(Trans::yes, Trans::no, d, h, R, T(1), a.expert_in.data() + r0 * d, d, dh, h, T(1),
       g.w1 + static_cast<long>(e) * d * h, h);
  if (g.b1)
    for (long r = 0; r < rows; ++r)
      for (int j = 0; j < h; ++j) g.b1[static_cast<long>(e) * h + j] += dh[r * h + j];
  gemm(Trans::no, Trans::yes, R, d, h, T(1), dh, h, w.w1 + static_cast<long>(e) * d * h, h, T(0),
       a.dexpert_in.data() + r0 * d, d);
}

// The weighted auxiliary loss of the batch's groups (mean over groups), unweighted into act.aux; with
// backward = true, its gradient into dgates (switch, noiseless importance), dclean and dlogits instead.
template <class T>
void auxiliary(SparseMoeActivations<T>& a, int B, bool backward) {
  const SparseMoeShape& s = a.shape;
  const int n = s.experts, m = s.tokens;
  const bool noisy = a.noise_applied;  // evaluation: no noise, clean_probs and noisy not filled
  const T sigma = static_cast<T>(s.noise_std / n);
  const long groups = (B + s.group_images - 1) / s.group_images;
  const T scale = static_cast<T>(s.aux_weight) / static_cast<T>(groups);
  T total = 0;
  for (int first_example = 0; first_example < B; first_example += s.group_images) {
    const int S = s.group_tokens(std::min(s.group_images, B - first_example));
    const long at = static_cast<long>(first_example) * m * n;
    const T* clean_probs = (noisy ? a.clean_probs.data() : a.gates.data()) + at;
    if (s.aux == AuxLoss::importance_load) {
      T* dclean_probs = (noisy ? a.dclean.data() : a.dgates.data()) + at;
      if (backward) importance_loss_backward(dclean_probs, clean_probs, S, n, scale, a.aux_scratch.data());
      else total += importance_loss(clean_probs, S, n, a.aux_scratch.data());
      if (noisy) {
        const T* clean = a.logits.data() + at;
        const T* noisy_logits = a.noisy.data() + at;
        if (backward)
          load_loss_backward(a.dlogits.data() + at, a.dlogits.data() + at, clean, noisy_logits, S, n, s.k, sigma, scale,
                             a.aux_scratch.data(), a.aux_iscratch.data());
        else
          total += load_loss(clean, noisy_logits, S, n, s.k, sigma, a.aux_scratch.data(), a.aux_iscratch.data());
      }
    } else if (s.aux == AuxLoss::switch_balance) {
      if (backward) switch_loss_backward(a.dgates.data() + at, a.gates.data() + at, S, n, scale, a.aux_scratch.data());
      else total += switch_loss(a.gates.data() + at, S, n, a.aux_scratch.data());
    }
  }
  if (!backward) a.aux = total / static_cast<T>(groups);
}

}  // namespace

template <class T>
SparseMoeActivations<T>::SparseMoeActivations(const SparseMoeShape& s, int max_batch_)
    : shape(s), max_batch(max_batch_), max_rows(max_kept_rows(s, max_batch_)) {
  const std::size_t tokens = static_cast<std::size_t>(max_batch_) * s.tokens, n = s.experts;
  const std::size_t rows = static_cast<std::size_t>(max_rows), d = s.dim, h = s.hidden, d_out = s.dim_out;
  const std::size_t group = static_cast<std::size_t>(std::min(s.group_images, max_batch_)) * s.tokens;
  const bool with_noise = s.noise_std > 0;
  logits = make_buffer<T>(tokens * n);
  gates = make_buffer<T>(tokens * n);
  clean_probs = make_buffer<T>(with_noise ? tokens * n : 0);
  noisy = make_buffer<T>(with_noise ? tokens * n : 0);
  kept = make_buffer<std::uint8_t>(tokens * n);
  choice = make_buffer<int>(s.routing == SparseRouting::tokens_choice ? tokens * s.k : 0);
  order = make_buffer<int>(group);
  count = make_buffer<int>(n);
  candidates = make_buffer<int>(std::max(n, group));
  offset = make_buffer<long>(n + 1);
  cursor = make_buffer<long>(n);
  row_token = make_buffer<int>(rows);
  row_gate = make_buffer<T>(rows);
  expert_in = make_buffer<T>(rows * d);
  hidden_pre = make_buffer<T>(rows * h);
  hidden = make_buffer<T>(rows * h);
  expert_out = make_buffer<T>(rows * d_out);
  dexpert_out = make_buffer<T>(rows * d_out);
  dhidden = make_buffer<T>(rows * h);
  dhidden_pre = make_buffer<T>(rows * h);
  dexpert_in = make_buffer<T>(rows * d);
  dgates = make_buffer<T>(tokens * n);
  dclean = make_buffer<T>(with_noise ? tokens * n : 0);
  dlogits = make_buffer<T>(tokens * n);
  aux_scratch = make_buffer<T>(2 * n);
  aux_iscratch = make_buffer<int>(2 * n);
}

template <class T>
void sparse_moe_forward(T* y, SparseMoeActivations<T>& a, const T* x, const T* noise, const SparseMoeTensors<T>& w,
                        int B) {
  const SparseMoeShape& s = a.shape;
  const int n = s.experts, d = s.dim, d_out = s.dim_out;
  const long tokens = static_cast<long>(B) * s.tokens;
  const bool noisy = noise != nullptr && s.noise_std > 0;
  a.noise_applied = noisy;
  if (s.routed()) {
    gemm_parallel(Trans::no, Trans::no, static_cast<int>(tokens), n, d, T(1), x, d, w.router, n, T(0), a.logits.data(), n);
    if (noisy) {
      for (long i = 0; i < tokens * n; ++i) a.noisy[i] = a.logits[i] + noise[i];
      softmax_slots_forward(a.clean_probs.data(), a.logits.data(), static_cast<int>(tokens), n);
    }
    softmax_slots_forward(a.gates.data(), noisy ? a.noisy.data() : a.logits.data(), static_cast<int>(tokens), n);
  } else {
    std::fill(a.gates.begin(), a.gates.begin() + tokens, T(1));
  }
  sparse_select(a, B);
  kernels::parallel_for(n, 1, [&](long begin, long end) {
    for (long e = begin; e < end; ++e) expert_forward(a, x, w, static_cast<int>(e));
  });
  std::fill(y, y + tokens * d_out, T(0));
  for (int e = 0; e < n; ++e)
    for (long r = a.offset[e]; r < a.offset[e + 1]; ++r) {
      T* out = y + static_cast<long>(a.row_token[r]) * d_out;
      const T* expert = a.expert_out.data() + r * d_out;
      const T gate = a.row_gate[r];
      for (int j = 0; j < d_out; ++j) out[j] += gate * expert[j];
    }
  a.aux = 0;
  if (s.routed() && s.aux != AuxLoss::none) auxiliary(a, B, false);
  a.last.aux_loss = static_cast<double>(a.aux) * s.aux_weight;
}

template <class T>
void sparse_moe_backward(T* dx, const SparseMoeTensors<T>& g, const T* dy, SparseMoeActivations<T>& a, const T* x,
                         const SparseMoeTensors<T>& w, int B) {
  const SparseMoeShape& s = a.shape;
  const int n = s.experts, d = s.dim, d_out = s.dim_out;
  const long tokens = static_cast<long>(B) * s.tokens;
  std::fill(a.dgates.begin(), a.dgates.begin() + tokens * n, T(0));
  for (int e = 0; e < n; ++e)
    for (long r = a.offset[e]; r < a.offset[e + 1]; ++r) {
      const long token = a.row_token[r];
      const T* upstream = dy + token * d_out;
      const T* expert = a.expert_out.data() + r * d_out;
      T* dout = a.dexpert_out.data() + r * d_out;
      T dgate = 0;
      for (int j = 0; j < d_out; ++j) {
        dgate += upstream[j] * expert[j];
        dout[j] = a.row_gate[r] * upstream[j];
      }
      a.dgates[token * n + e] = dgate;
    }
  kernels::parallel_for(n, 1, [&](long begin, long end) {
    for (long e = begin; e < end; ++e) expert_backward(a, g, w, static_cast<int>(e));
  });
  if (dx)
    for (int e = 0; e < n; ++e)
      for (long r = a.offset[e]; r < a.offset[e + 1]; ++r) {
        T* into = dx + static_cast<long>(a.row_token[r]) * d;
        const T* from = a.dexpert_in.data() + r * d;
        for (int j = 0; j < d; ++j) into[j] += from[j];
      }
  if (!s.routed()) return;
  const bool noisy = a.noise_applied;
  std::fill(a.dlogits.begin(), a.dlogits.begin() + tokens * n, T(0));
  if (noisy) std::fill(a.dclean.begin(), a.dclean.begin() + tokens * n, T(0));
  if (s.aux != AuxLoss::none) auxiliary(a, B, true);
  softmax_slots_backward(a.dlogits.data(), a.dgates.data(), a.gates.data(), static_cast<int>(tokens), n);
  if (noisy) softmax_slots_backward(a.dlogits.data(), a.dclean.data(), a.clean_probs.data(), static_cast<int>(tokens), n);
  gemm_parallel(Trans::yes, Trans::no, d, n, static_cast<int>(tokens), T(1), x, d, a.dlogits.data(), n, T(1), g.router, n);
  if (dx) gemm_parallel(Trans::no, Trans::yes, static_cast<int>(tokens), d, n, T(1), a.dlogits.data(), n, w.router, n, T(1), dx, d);
}

template struct SparseMoeActivations<float>;
template struct SparseMoeActivations<double>;
#define SOFTMOE_SPARSE_MOE(T)                                                                                  \
  template SparseMoeTensors<T> SparseMoeParamIds::values<T>(ParamBuffer<T>&, const SparseMoeShape&) const;     \
  template SparseMoeTensors<T> SparseMoeParamIds::grads<T>(ParamBuffer<T>&, const SparseMoeShape&) const;      \
  template SparseMoeParamIds sparse_moe_register<T>(ParamBuffer<T>&, const SparseMoeShape&, const std::string&); \
  template void sparse_moe_init<T>(SparseMoeTensors<T>, const SparseMoeShape&, Rng&);                          \
  template void sparse_moe_forward<T>(T*, SparseMoeActivations<T>&, const T*, const T*, const SparseMoeTensors<T>&, int); \
  template void sparse_moe_backward<T>(T*, const SparseMoeTensors<T>&, const T*, SparseMoeActivations<T>&, const T*, \
                                       const SparseMoeTensors<T>&, int);
SOFTMOE_SPARSE_MOE(float)
SOFTMOE_SPARSE_MOE(double)
#undef SOFTMOE_SPARSE_MOE

}  // namespace softmoe
