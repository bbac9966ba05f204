#include "softmoe/layers/softmoe.hpp"

#include <algorithm>
#include <cmath>
#include <stdexcept>

#include "softmoe/kernels/gemm.hpp"
#include "softmoe/layers/routing.hpp"
#include "softmoe/rng.hpp"

namespace softmoe {

using kernels::gemm;
using kernels::Trans;

Normalize parse_normalize(const std::string& name) {
  if (name == "none") return Normalize::none;
  if (name == "router") return Normalize::router;
  if (name == "all") return Normalize::all;
  throw std::invalid_argument("unknown normalisation '" + name + "' (expected none, router or all)");
}

const char* to_string(Normalize normalize) {
  switch (normalize) {
    case Normalize::none: return "none";
    case Normalize::router: return "router";
    case Normalize::all: return "all";
  }
  return "?";
}

PhiInit parse_phi_init(const std::string& name) {
  if (name == "uniform") return PhiInit::uniform;
  if (name == "normal") return PhiInit::normal;
  throw std::invalid_argument("unknown Phi initialisation '" + name + "' (expected uniform or normal)");
}

const char* to_string(PhiInit phi_init) { return phi_init == PhiInit::uniform ? "uniform" : "normal"; }

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
  const double bound1 = 1.0 / std::sqrt(static_cast<double>(d));
  const double bound2 = 1.0 / std::sqrt(static_cast<double>(h));
  for (long i = 0; i < n * d * h; ++i) w.w1[i] = static_cast<T>(rng.uniform(-bound1, bound1));
  if (w.b1)
    for (long i = 0; i < n * h; ++i) w.b1[i] = static_cast<T>(rng.uniform(-bound1, bound1));
  for (long i = 0; i < n * h * d_out; ++i) w.w2[i] = static_cast<T>(rng.uniform(-bound2, bound2));
  if (w.b2)
    for (long i = 0; i < n * d_out; ++i) w.b2[i] = static_cast<T>(rng.uniform(-bound2, bound2));
}

template <class T>
SoftMoeActivations<T>::SoftMoeActivations(const SoftMoeShape& s, int max_batch_)
    : max_batch(max_batch_) {
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
  dslot_out = make_buffer<T>(S * B * d_out);
  dhidden = make_buffer<T>(S * B * h);
  dhidden_pre = make_buffer<T>(S * B * h);
  dslot_in = make_buffer<T>(S * B * d);
  ddispatch = make_buffer<T>(B * m * S);
  dcombine = make_buffer<T>(B * m * S);
  dxr = make_buffer<T>(normalizes ? B * m * d : 0);
  dphir = make_buffer<T>(normalizes ? d * S : 0);
}

namespace {

// Row of slot s = e p + j of example b in a [n, B, p, width] slot tensor.
inline long slot_row(int s, int b, int B, int p) {
  return (static_cast<long>(s / p) * B + b) * p + s % p;
}

template <class T>
void fill_rows(T* out, const T* row, long rows, int width) {
  for (long r = 0; r < rows; ++r) std::copy(row, row + width, out + r * width);
}

template <class T>
void add_column_sums(T* sums, const T* in, long rows, int width) {
  for (long r = 0; r < rows; ++r)
    for (int k = 0; k < width; ++k) sums[k] += in[r * width + k];
}

// slot_in [n, B, p, d] = per example D^T Xe; dispatch [B, m, S], xe [B, m, d]
template <class T>
void dispatch_forward(T* slot_in, const T* dispatch, const T* xe, int B, int m, int S, int p, int d) {
  for (int b = 0; b < B; ++b)
    for (int s = 0; s < S; ++s) {
      T* dst = slot_in + slot_row(s, b, B, p) * d;
      std::fill(dst, dst + d, T(0));
      for (int i = 0; i < m; ++i) {
        const long token = static_cast<long>(b) * m + i;
        const T weight = dispatch[token * S + s];
        const T* src = xe + token * d;
        for (int k = 0; k < d; ++k) dst[k] += weight * src[k];
      }
    }
}

// ddispatch [B, m, S] = Xe . dslot_in per (token, slot); dxe [B, m, d] += D dslot_in (if not null)
template <class T>
void dispatch_backward(T* ddispatch, T* dxe, const T* dslot_in, const T* dispatch, const T* xe, int B, int m,
                       int S, int p, int d) {
  for (int b = 0; b < B; ++b)
    for (int i = 0; i < m; ++i) {
      const long token = static_cast<long>(b) * m + i;
      const T* x = xe + token * d;
      for (int s = 0; s < S; ++s) {
        const T* g = dslot_in + slot_row(s, b, B, p) * d;
        T dot = 0;
        for (int k = 0; k < d; ++k) dot += x[k] * g[k];
        ddispatch[token * S + s] = dot;
        if (dxe) {
          const T weight = dispatch[token * S + s];
          T* dx = dxe + token * d;
          for (int k = 0; k < d; ++k) dx[k] += weight * g[k];
        }
      }
    }
}

// y [B, m, d_out] = per example C Ys; combine [B, m, S], slot_out [n, B, p, d_out]
template <class T>
void combine_forward(T* y, const T* combine, const T* slot_out, int B, int m, int S, int p, int d_out) {
  for (int b = 0; b < B; ++b)
    for (int i = 0; i < m; ++i) {
      const long token = static_cast<long>(b) * m + i;
      T* dst = y + token * d_out;
      std::fill(dst, dst + d_out, T(0));
      for (int s = 0; s < S; ++s) {
        const T weight = combine[token * S + s];
        const T* src = slot_out + slot_row(s, b, B, p) * d_out;
        for (int k = 0; k < d_out; ++k) dst[k] += weight * src[k];
      }
    }
}

// dcombine [B, m, S] = dy . Ys; dslot_out [n, B, p, d_out] = C^T dy (overwritten)
template <class T>
void combine_backward(T* dcombine, T* dslot_out, const T* dy, const T* combine, const T* slot_out, int B,
                      int m, int S, int p, int d_out) {
  for (int b = 0; b < B; ++b)
    for (int s = 0; s < S; ++s) {
      const long row = slot_row(s, b, B, p) * d_out;
      T* dys = dslot_out + row;
      const T* ys = slot_out + row;
      std::fill(dys, dys + d_out, T(0));
      for (int i = 0; i < m; ++i) {
        const long token = static_cast<long>(b) * m + i;
        const T* g = dy + token * d_out;
        const T weight = combine[token * S + s];
        T dot = 0;
        for (int k = 0; k < d_out; ++k) {
          dot += g[k] * ys[k];
          dys[k] += weight * g[k];
        }
        dcombine[token * S + s] = dot;
      }
    }
}

}  // namespace

template <class T>
void softmoe_forward(T* y, SoftMoeActivations<T>& act, const T* x, const SoftMoeTensors<T>& w,
                     const SoftMoeShape& s, int B) {
  const int m = s.tokens, d = s.dim, n = s.experts, p = s.slots, S = s.total_slots(), h = s.hidden,
            d_out = s.dim_out, rows = B * m, expert_rows = B * p;
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

  gemm(Trans::no, Trans::no, rows, S, d, T(1), xr, d, phir, S, T(0), act.logits.data(), S);
  softmax_tokens_forward(act.dispatch.data(), act.logits.data(), B, m, S);
  softmax_slots_forward(act.combine.data(), act.logits.data(), rows, S);
  dispatch_forward(act.slot_in.data(), act.dispatch.data(), xe, B, m, S, p, d);

  for (int e = 0; e < n; ++e) {
    const T* in = act.slot_in.data() + static_cast<long>(e) * expert_rows * d;
    T* pre = act.hidden_pre.data() + static_cast<long>(e) * expert_rows * h;
    T* out = act.slot_out.data() + static_cast<long>(e) * expert_rows * d_out;
    if (w.b1) fill_rows(pre, w.b1 + static_cast<long>(e) * h, expert_rows, h);
    gemm(Trans::no, Trans::no, expert_rows, h, d, T(1), in, d, w.w1 + static_cast<long>(e) * d * h, h,
         T(w.b1 ? 1 : 0), pre, h);
    T* hid = act.hidden.data() + static_cast<long>(e) * expert_rows * h;
    activation_forward(hid, pre, static_cast<std::size_t>(expert_rows) * h, s.activation);
    if (w.b2) fill_rows(out, w.b2 + static_cast<long>(e) * d_out, expert_rows, d_out);
    gemm(Trans::no, Trans::no, expert_rows, d_out, h, T(1), hid, h, w.w2 + static_cast<long>(e) * h * d_out,
         d_out, T(w.b2 ? 1 : 0), out, d_out);
  }

  combine_forward(y, act.combine.data(), act.slot_out.data(), B, m, S, p, d_out);
}

template <class T>
void softmoe_backward(T* dx, const SoftMoeTensors<T>& g, const T* dy, SoftMoeActivations<T>& act,
                      const T* x, const SoftMoeTensors<T>& w, const SoftMoeShape& s, int B) {
  const int m = s.tokens, d = s.dim, n = s.experts, p = s.slots, S = s.total_slots(), h = s.hidden,
            d_out = s.dim_out, rows = B * m, expert_rows = B * p;

  combine_backward(act.dcombine.data(), act.dslot_out.data(), dy, act.combine.data(), act.slot_out.data(),
                   B, m, S, p, d_out);

  for (int e = 0; e < n; ++e) {
    const long hidden_at = static_cast<long>(e) * expert_rows * h;
    const T* in = act.slot_in.data() + static_cast<long>(e) * expert_rows * d;
    const T* dout = act.dslot_out.data() + static_cast<long>(e) * expert_rows * d_out;
    const T* w1 = w.w1 + static_cast<long>(e) * d * h;
    const T* w2 = w.w2 + static_cast<long>(e) * h * d_out;
    T* dhid = act.dhidden.data() + hidden_at;
    T* dpre = act.dhidden_pre.data() + hidden_at;

    gemm(Trans::yes, Trans::no, h, d_out, expert_rows, T(1), act.hidden.data() + hidden_at, h, dout, d_out,
         T(1), g.w2 + static_cast<long>(e) * h * d_out, d_out);
    if (g.b2) add_column_sums(g.b2 + static_cast<long>(e) * d_out, dout, expert_rows, d_out);
    gemm(Trans::no, Trans::yes, expert_rows, h, d_out, T(1), dout, d_out, w2, d_out, T(0), dhid, h);
    std::fill(dpre, dpre + static_cast<long>(expert_rows) * h, T(0));
    activation_backward(dpre, dhid, act.hidden_pre.data() + hidden_at,
                        static_cast<std::size_t>(expert_rows) * h, s.activation);
    gemm(Trans::yes, Trans::no, d, h, expert_rows, T(1), in, d, dpre, h, T(1),
         g.w1 + static_cast<long>(e) * d * h, h);
    if (g.b1) add_column_sums(g.b1 + static_cast<long>(e) * h, dpre, expert_rows, h);
    gemm(Trans::no, Trans::yes, expert_rows, d, h, T(1), dpre, h, w1, h, T(0),
         act.dslot_in.data() + static_cast<long>(e) * expert_rows * d, d);
  }

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
  dispatch_backward(act.ddispatch.data(), dxe, act.dslot_in.data(), act.dispatch.data(), xe, B, m, S, p, d);

  T* dlogits = act.logits.data();  // L is not needed any more
  std::fill(dlogits, dlogits + static_cast<long>(rows) * S, T(0));
  softmax_tokens_backward(dlogits, act.ddispatch.data(), act.dispatch.data(), B, m, S);
  softmax_slots_backward(dlogits, act.dcombine.data(), act.combine.data(), rows, S);

  if (!normalizes) {
    gemm(Trans::yes, Trans::no, d, S, rows, T(1), x, d, dlogits, S, T(1), g.phi, S);
    if (dx) gemm(Trans::no, Trans::yes, rows, d, S, T(1), dlogits, S, w.phi, S, T(1), dx, d);
    return;
  }
  gemm(Trans::yes, Trans::no, d, S, rows, T(1), act.xr.data(), d, dlogits, S, T(0), act.dphir.data(), S);
  scaled_l2_normalize_columns_backward(g.phi, g.scale, act.dphir.data(), w.phi, act.phi_norm.data(), *w.scale,
                                       d, S);
  if (dx) {
    const T beta = s.normalize == Normalize::all ? T(1) : T(0);
    gemm(Trans::no, Trans::yes, rows, d, S, T(1), dlogits, S, act.phir.data(), S, beta, act.dxr.data(), d);
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
