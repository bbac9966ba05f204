#include "softmoe/layers/attention.hpp"

#include <algorithm>
#include <cmath>
#include <stdexcept>

#include "softmoe/kernels/gemm.hpp"
#include "softmoe/layers/linear.hpp"
#include "softmoe/rng.hpp"

namespace softmoe {

using kernels::gemm;
using kernels::Trans;

void validate(const AttentionShape& s) {
  if (s.tokens <= 0 || s.dim <= 0 || s.heads <= 0 || s.dim % s.heads != 0)
    throw std::invalid_argument("attention: need tokens, dim, heads > 0 and heads dividing dim (tokens " +
                                std::to_string(s.tokens) + ", dim " + std::to_string(s.dim) + ", heads " +
                                std::to_string(s.heads) + ")");
}

template <class T>
AttentionParamIds attention_register(ParamBuffer<T>& params, const AttentionShape& s, const std::string& prefix) {
  validate(s);
  const auto D = static_cast<std::size_t>(s.dim);
  AttentionParamIds ids{};
  ids.in_proj_weight = params.add(prefix + "in_proj_weight", {3 * D, D});
  ids.in_proj_bias = params.add(prefix + "in_proj_bias", {3 * D});
  ids.out_proj_weight = params.add(prefix + "out_proj.weight", {D, D});
  ids.out_proj_bias = params.add(prefix + "out_proj.bias", {D});
  return ids;
}

template <class T>
void attention_init(AttentionTensors<T> w, const AttentionShape& s, Rng& rng) {
  const long D = s.dim;
  const double xavier = std::sqrt(6.0 / static_cast<double>(D + 3 * D));
  const double linear = 1.0 / std::sqrt(static_cast<double>(D));
  for (long i = 0; i < 3 * D * D; ++i) w.in_proj_weight[i] = static_cast<T>(rng.uniform(-xavier, xavier));
  for (long i = 0; i < D * D; ++i) w.out_proj_weight[i] = static_cast<T>(rng.uniform(-linear, linear));
  if (w.in_proj_bias) std::fill(w.in_proj_bias, w.in_proj_bias + 3 * D, T(0));
  if (w.out_proj_bias) std::fill(w.out_proj_bias, w.out_proj_bias + D, T(0));
}

template <class T>
AttentionActivations<T>::AttentionActivations(const AttentionShape& s, int max_batch_) : max_batch(max_batch_) {
  validate(s);
  const std::size_t B = static_cast<std::size_t>(max_batch_), L = s.tokens, D = s.dim, H = s.heads;
  qkv = make_buffer<T>(B * L * 3 * D);
  probs = make_buffer<T>(B * H * L * L);
  ctx = make_buffer<T>(B * L * D);
  dctx = make_buffer<T>(B * L * D);
  dqkv = make_buffer<T>(B * L * 3 * D);
  dscores = make_buffer<T>(L * L);
}

namespace {

// Row-wise softmax in place over p [L, L].
template <class T>
void softmax_rows(T* p, int L) {
  for (int i = 0; i < L; ++i) {
    T* row = p + static_cast<long>(i) * L;
    const T max = *std::max_element(row, row + L);
    T sum = 0;
    for (int j = 0; j < L; ++j) sum += row[j] = std::exp(row[j] - max);
    const T inv = T(1) / sum;
    for (int j = 0; j < L; ++j) row[j] *= inv;
  }
}

// In place: dp [L, L] (gradient of the probabilities) becomes the gradient of the scores.
template <class T>
void softmax_rows_backward(T* dp, const T* p, int L) {
  for (int i = 0; i < L; ++i) {
    const long base = static_cast<long>(i) * L;
    T dot = 0;
    for (int j = 0; j < L; ++j) dot += p[base + j] * dp[base + j];
    for (int j = 0; j < L; ++j) dp[base + j] = p[base + j] * (dp[base + j] - dot);
  }
}

}  // namespace

template <class T>
void attention_forward(T* y, AttentionActivations<T>& act, const T* x, const AttentionTensors<T>& w,
                       const AttentionShape& s, int B) {
  // y [B, L, D]; x [B, L, D]; in_proj_weight [3D, D]; out_proj_weight [D, D]
  // act: qkv [B, L, 3D], probs [B, H, L, L], ctx [B, L, D]
  if (B > act.max_batch) throw std::invalid_argument("attention_forward: batch exceeds max_batch");
  const int L = s.tokens, D = s.dim, H = s.heads, dh = s.head_dim();
  const long D3 = 3L * D;
  const T scale = T(1) / std::sqrt(T(dh));
  T* qkv = act.qkv.data();
  linear_forward(qkv, x, w.in_proj_weight, w.in_proj_bias, B * L, D, 3 * D);
  for (int b = 0; b < B; ++b)
    for (int h = 0; h < H; ++h) {
      // q, k, v [L, dh] each, leading dimension 3D
      const T* q = qkv + static_cast<long>(b) * L * D3 + static_cast<long>(h) * dh;
      const T* k = q + D;
      const T* v = q + 2 * D;
      T* p = act.probs.data() + (static_cast<long>(b) * H + h) * L * L;  // [L, L]
      gemm(Trans::no, Trans::yes, L, L, dh, scale, q, 3 * D, k, 3 * D, T(0), p, L);
      softmax_rows(p, L);
      T* c = act.ctx.data() + static_cast<long>(b) * L * D + static_cast<long>(h) * dh;  // [L, dh], ld D
      gemm(Trans::no, Trans::no, L, dh, L, T(1), p, L, v, 3 * D, T(0), c, D);
    }
  linear_forward(y, act.ctx.data(), w.out_proj_weight, w.out_proj_bias, B * L, D, D);
}

template <class T>
void attention_backward(T* dx, const AttentionTensors<T>& g, const T* dy, AttentionActivations<T>& act,
                        const T* x, const AttentionTensors<T>& w, const AttentionShape& s, int B) {
  // dx [B, L, D]; dy [B, L, D]; x [B, L, D]; act from the matching forward
  if (B > act.max_batch) throw std::invalid_argument("attention_backward: batch exceeds max_batch");
  const int L = s.tokens, D = s.dim, H = s.heads, dh = s.head_dim();
  const long D3 = 3L * D;
  const T scale = T(1) / std::sqrt(T(dh));
  T* dctx = act.dctx.data();
  std::fill(dctx, dctx + static_cast<long>(B) * L * D, T(0));
  // dWout += dy^T ctx, dbout += sum dy, dctx = dy Wout
  linear_backward(dctx, g.out_proj_weight, g.out_proj_bias, dy, act.ctx.data(), w.out_proj_weight, B * L, D, D);
  T* ds = act.dscores.data();
  for (int b = 0; b < B; ++b)
    for (int h = 0; h < H; ++h) {
      const long head = static_cast<long>(b) * L * D3 + static_cast<long>(h) * dh;
      const T* q = act.qkv.data() + head;  // [L, dh] each, leading dimension 3D
      const T* k = q + D;
      const T* v = q + 2 * D;
      T* dq = act.dqkv.data() + head;
      T* dk = dq + D;
      T* dv = dq + 2 * D;
      const T* p = act.probs.data() + (static_cast<long>(b) * H + h) * L * L;
      const T* dc = dctx + static_cast<long>(b) * L * D + static_cast<long>(h) * dh;  // [L, dh], ld D
      gemm(Trans::no, Trans::yes, L, L, dh, T(1), dc, D, v, 3 * D, T(0), ds, L);  // dP = dC V^T
      gemm(Trans::yes, Trans::no, L, dh, L, T(1), p, L, dc, D, T(0), dv, 3 * D);  // dV = P^T dC
      softmax_rows_backward(ds, p, L);                                               // dS
      gemm(Trans::no, Trans::no, L, dh, L, scale, ds, L, k, 3 * D, T(0), dq, 3 * D);   // dQ = s dS K
      gemm(Trans::yes, Trans::no, L, dh, L, scale, ds, L, q, 3 * D, T(0), dk, 3 * D);  // dK = s dS^T Q
    }
  // dWin += dqkv^T x, dbin += sum dqkv, dx += dqkv Win
  linear_backward(dx, g.in_proj_weight, g.in_proj_bias, act.dqkv.data(), x, w.in_proj_weight, B * L, D, 3 * D);
}

#define SOFTMOE_INSTANTIATE_ATTENTION(T)                                                                  \
  template AttentionParamIds attention_register<T>(ParamBuffer<T>&, const AttentionShape&,               \
                                                   const std::string&);                                 \
  template void attention_init<T>(AttentionTensors<T>, const AttentionShape&, Rng&);                      \
  template struct AttentionActivations<T>;                                                                \
  template void attention_forward<T>(T*, AttentionActivations<T>&, const T*, const AttentionTensors<T>&, \
                                     const AttentionShape&, int);                                         \
  template void attention_backward<T>(T*, const AttentionTensors<T>&, const T*, AttentionActivations<T>&, \
                                      const T*, const AttentionTensors<T>&, const AttentionShape&, int);
SOFTMOE_INSTANTIATE_ATTENTION(float)
SOFTMOE_INSTANTIATE_ATTENTION(double)

}  // namespace softmoe
