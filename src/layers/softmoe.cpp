#include "softmoe/layers/softmoe.hpp"

#include <algorithm>
#include <cmath>
#include <stdexcept>

#include "softmoe/kernels/gemm.hpp"
#include "softmoe/kernels/parallel.hpp"
#include "softmoe/layers/expert_init.hpp"
#include "softmoe/layers/routing.hpp"
#include "softmoe/rng.hpp"
#include "softmoe_parts.hpp"

namespace softmoe {

using kernels::gemm_parallel;
using kernels::Trans;

template <class T>
SoftMoeTensors<T> SoftMoeParamIds::values(ParamBuffer<T>& params, const SoftMoeShape& shape) const {
  return {params.value(phi), params.value(scale), params.value(w1),
          shape.expert_bias ? params.value(b1) : nullptr, params.value(w2),
          shape.expert_bias ? params.value(b2) : nullptr};
}

template <class T>
SoftMoeTensors<T> SoftMoeParamIds::grads(ParamBuffer<T>& params, const SoftMoeShape& shape) const {
  return {params.grad(phi), params.grad(scale), params.grad(w1),
          shape.expert_bias ? params.grad(b1) : nullptr, params.grad(w2),
          shape.expert_bias ? params.grad(b2) : nullptr};
}

template <class T>
SoftMoeParamIds softmoe_register(ParamBuffer<T>& params, const SoftMoeShape& s, const std::string& prefix) {
  const auto n = static_cast<std::size_t>(s.experts), d = static_cast<std::size_t>(s.dim),
             h = static_cast<std::size_t>(s.hidden), d_out = static_cast<std::size_t>(s.dim_out);
  SoftMoeParamIds ids{};
  ids.phi = params.add(prefix + "router.phi", {d, static_cast<std::size_t>(s.total_slots())});
  ids.scale = params.add(prefix + "router.scale", {1});
  ids.w1 = params.add(prefix + "experts.w1", {n, d, h});
  if (s.expert_bias) ids.b1 = params.add(prefix + "experts.b1", {n, h});
  ids.w2 = params.add(prefix + "experts.w2", {n, h, d_out});
  if (s.expert_bias) ids.b2 = params.add(prefix + "experts.b2", {n, d_out});
  return ids;
}

template <class T>
void softmoe_init(SoftMoeTensors<T> w, const SoftMoeShape& s, PhiInit phi_init, Rng& rng) {
  const long d = s.dim, S = s.total_slots(), n = s.experts, h = s.hidden, d_out = s.dim_out;
  const double phi_std = 1.0 / std::sqrt(static_cast<double>(d));
  for (long i = 0; i < d * S; ++i)
    w.phi[i] = static_cast<T>(phi_init == PhiInit::uniform ? rng.uniform(-1, 1) : phi_std * rng.normal());
  *w.scale = T(1);
  experts_init(w.w1, w.b1, w.w2, w.b2, n, d, h, d_out, rng);
}

template <class T>
SoftMoeActivations<T>::SoftMoeActivations(const SoftMoeShape& s, int max_batch_) : shape(s), max_batch(max_batch_) {
  const std::size_t B = static_cast<std::size_t>(max_batch_), m = s.tokens, d = s.dim,
                    S = s.total_slots(), h = s.hidden, d_out = s.dim_out;
  const bool normalizes = s.normalize != Normalize::none;
  xr = make_buffer<T>(normalizes ? B * m * d : 0);
  token_norm = make_buffer<T>(normalizes ? B * m : 0);
  phir = make_buffer<T>(normalizes ? d * S : 0);
  phi_norm = make_buffer<T>(normalizes ? S : 0);
  logits = make_buffer<T>(B * m * S);
  dispatch = make_buffer<T>(B * m * S);
  combine = make_buffer<T>(B * m * S);
  slot_in = make_buffer<T>(S * B * d);
  hidden_pre = make_buffer<T>(S * B * h);
  hidden = make_buffer<T>(S * B * h);
  slot_out = make_buffer<T>(S * B * d_out);
  ddispatch = make_buffer<T>(B * m * S);
  dcombine = make_buffer<T>(B * m * S);
  dxr = make_buffer<T>(normalizes ? B * m * d : 0);
  dphir = make_buffer<T>(normalizes ? d * S : 0);
  const bool transposes = s.hidden < detail::kWideHidden;
  w1_t = make_buffer<T>(transposes ? S / s.slots * h * d : 0);
  w2_t = make_buffer<T>(transposes ? S / s.slots * h * d_out : 0);
  reserve_scratch(kernels::threads());
}

template <class T>
void SoftMoeActivations<T>::reserve_scratch(int threads) {
  if (threads <= scratch_threads) return;
  const std::size_t t = static_cast<std::size_t>(threads), rows = static_cast<std::size_t>(max_batch) * shape.slots;
  const std::size_t group = detail::kExpertGroup, d = shape.dim, h = shape.hidden, d_out = shape.dim_out;
  block_in = make_buffer<T>(t * group * rows * d);
  block_out = make_buffer<T>(t * group * rows * d_out);
  dslot_out = make_buffer<T>(t * group * rows * d_out);
  dslot_in = make_buffer<T>(t * group * rows * d);
  dhidden = make_buffer<T>(t * rows * h);
  dhidden_pre = make_buffer<T>(t * rows * h);
  edge_rows = make_buffer<T>(t * 2 * std::max(d, d_out));
  const std::size_t expert_params = shape.experts * (d * h + h * d_out + (shape.expert_bias ? h + d_out : 0));
  dexperts = make_buffer<T>((t - 1) * expert_params);
  scratch_threads = threads;
}

template <class T>
void softmoe_forward(T* y, SoftMoeActivations<T>& act, const T* x, const SoftMoeTensors<T>& w,
                     const SoftMoeShape& s, int B) {
  // x [B, m, d] -> y [B, m, d_out]; act keeps L, D, C [B, m, S] and the slot tensors [n, B, p, width]
  const int m = s.tokens, d = s.dim, S = s.total_slots(), rows = B * m;
  if (B > act.max_batch) throw std::logic_error("softmoe_forward: batch larger than activations");

  const T* xr = x;
  const T* phir = w.phi;
  if (s.normalize != Normalize::none) {
    l2_normalize_rows_forward(act.xr.data(), act.token_norm.data(), x, rows, d);
    scaled_l2_normalize_columns_forward(act.phir.data(), act.phi_norm.data(), w.phi, *w.scale, d, S);
    xr = act.xr.data();
    phir = act.phir.data();
  }
  const T* xe = s.normalize == Normalize::all ? xr : x;

  gemm_parallel(Trans::no, Trans::no, rows, S, d, T(1), xr, d, phir, S, T(0), act.logits.data(), S);
  const long entries = static_cast<long>(rows) * S;
  if (s.soft_dispatch()) softmax_tokens_forward(act.dispatch.data(), act.logits.data(), B, m, S);
  else std::fill(act.dispatch.begin(), act.dispatch.begin() + entries, T(1) / T(m));
  if (s.soft_combine()) softmax_slots_forward(act.combine.data(), act.logits.data(), rows, S);
  else std::fill(act.combine.begin(), act.combine.begin() + entries, T(1) / T(S));
  if (s.mixing == Mixing::identity) {  // m = S: per example, D = C = I
    if (m != S) throw std::logic_error("softmoe_forward: identity mixing needs n p = m");
    std::fill(act.dispatch.begin(), act.dispatch.begin() + entries, T(0));
    for (long r = 0; r < rows; ++r) act.dispatch[r * S + r % m] = T(1);
    std::copy(act.dispatch.begin(), act.dispatch.begin() + entries, act.combine.begin());
  }
  detail::experts_forward(y, act, xe, w, s, B);
}

template <class T>
void softmoe_backward(T* dx, const SoftMoeTensors<T>& g, const T* dy, SoftMoeActivations<T>& act,
                      const T* x, const SoftMoeTensors<T>& w, const SoftMoeShape& s, int B) {
  // dy [B, m, d_out] -> g += parameter gradients, dx [B, m, d] += input gradient (if not null)
  const int m = s.tokens, d = s.dim, S = s.total_slots(), rows = B * m;

  // Where the experts' input gradient goes: straight to dx, or through the token normalisation.
  const bool normalizes = s.normalize != Normalize::none;
  T* dxe = nullptr;
  if (dx && s.normalize == Normalize::all) {
    dxe = act.dxr.data();
    std::fill(dxe, dxe + static_cast<long>(rows) * d, T(0));
  } else if (dx) {
    dxe = dx;
  }
  const T* xe = s.normalize == Normalize::all ? act.xr.data() : x;
  detail::experts_backward(dxe, g, dy, xe, act, w, s, B);

  T* dlogits = act.logits.data();  // L is not needed any more
  std::fill(dlogits, dlogits + static_cast<long>(rows) * S, T(0));
  if (s.soft_dispatch()) softmax_tokens_backward(dlogits, act.ddispatch.data(), act.dispatch.data(), B, m, S);
  if (s.soft_combine()) softmax_slots_backward(dlogits, act.dcombine.data(), act.combine.data(), rows, S);

  if (!normalizes) {
    gemm_parallel(Trans::yes, Trans::no, d, S, rows, T(1), x, d, dlogits, S, T(1), g.phi, S);
    if (dx) gemm_parallel(Trans::no, Trans::yes, rows, d, S, T(1), dlogits, S, w.phi, S, T(1), dx, d);
    return;
  }
  gemm_parallel(Trans::yes, Trans::no, d, S, rows, T(1), act.xr.data(), d, dlogits, S, T(0), act.dphir.data(), S);
  scaled_l2_normalize_columns_backward(g.phi, g.scale, act.dphir.data(), w.phi, act.phi_norm.data(), *w.scale,
                                       d, S);
  if (dx) {
    const T beta = s.normalize == Normalize::all ? T(1) : T(0);
    gemm_parallel(Trans::no, Trans::yes, rows, d, S, T(1), dlogits, S, act.phir.data(), S, beta, act.dxr.data(), d);
    l2_normalize_rows_backward(dx, act.dxr.data(), x, act.token_norm.data(), rows, d);
  }
}

#define SOFTMOE_INSTANTIATE(T)                                                                       \
  template SoftMoeTensors<T> SoftMoeParamIds::values<T>(ParamBuffer<T>&, const SoftMoeShape&) const; \
  template SoftMoeTensors<T> SoftMoeParamIds::grads<T>(ParamBuffer<T>&, const SoftMoeShape&) const;  \
  template SoftMoeParamIds softmoe_register<T>(ParamBuffer<T>&, const SoftMoeShape&,                 \
                                               const std::string&);                                 \
  template void softmoe_init<T>(SoftMoeTensors<T>, const SoftMoeShape&, PhiInit, Rng&);              \
  template struct SoftMoeActivations<T>;                                                             \
  template void softmoe_forward<T>(T*, SoftMoeActivations<T>&, const T*, const SoftMoeTensors<T>&,   \
                                   const SoftMoeShape&, int);                                        \
  template void softmoe_backward<T>(T*, const SoftMoeTensors<T>&, const T*, SoftMoeActivations<T>&,  \
                                    const T*, const SoftMoeTensors<T>&, const SoftMoeShape&, int);
SOFTMOE_INSTANTIATE(float)
SOFTMOE_INSTANTIATE(double)

}  // namespace softmoe
