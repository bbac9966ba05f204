#include "softmoe/layers/routing.hpp"

#include <algorithm>
#include <cmath>

#include "softmoe/kernels/parallel.hpp"
#include "softmoe/kernels/vector_ops.hpp"
#include "softmoe/layers/softmoe.hpp"

namespace softmoe {
namespace {

using kernels::parallel_for;
constexpr long kMinRows = 64;    // rows of d values per thread before a loop is shared
constexpr long kMinBlocks = 16;  // [m, S] blocks per thread
constexpr int kChunk = 64;       // slots handled together by the token softmax

}  // namespace

template <class T>
void l2_normalize_rows_forward(T* out, T* norms, const T* in, int R, int d) {
  // in, out [R, d]; norms [R]
  parallel_for(R, kMinRows, [&](long begin, long end) {
    for (long r = begin; r < end; ++r) {
      const T* x = in + r * d;
      norms[r] = std::sqrt(kernels::dot(x, x, d));
      kernels::scale(out + r * d, T(1) / (norms[r] + T(kNormEps)), x, d);
    }
  });
}

template <class T>
void l2_normalize_rows_backward(T* din, const T* dout, const T* in, const T* norms, int R, int d) {
  // din, dout, in [R, d]; norms [R]
  // y = x / (r + eps)  =>  dx = dy / (r + eps) - x (x . dy) / (r (r + eps)^2)
  parallel_for(R, kMinRows, [&](long begin, long end) {
    for (long r = begin; r < end; ++r) {
      const long base = r * d;
      const T norm = norms[r];
      const T inv = T(1) / (norm + T(kNormEps));
      const T dot = kernels::dot(in + base, dout + base, d);
      const T radial = norm > T(0) ? dot * inv * inv / norm : T(0);
      for (int k = 0; k < d; ++k) din[base + k] += dout[base + k] * inv - in[base + k] * radial;
    }
  });
}

template <class T>
void scaled_l2_normalize_columns_forward(T* out, T* norms, const T* in, T scale, int d, int S) {
  // in, out [d, S]; norms [S]
  std::fill(norms, norms + S, T(0));
  for (int k = 0; k < d; ++k)
    for (int s = 0; s < S; ++s) norms[s] += in[static_cast<long>(k) * S + s] * in[static_cast<long>(k) * S + s];
  for (int s = 0; s < S; ++s) norms[s] = std::sqrt(norms[s]);
  for (int k = 0; k < d; ++k)
    for (int s = 0; s < S; ++s)
      out[static_cast<long>(k) * S + s] = scale * in[static_cast<long>(k) * S + s] / (norms[s] + T(kNormEps));
}

template <class T>
void scaled_l2_normalize_columns_backward(T* din, T* dscale, const T* dout, const T* in, const T* norms,
                                          T scale, int d, int S) {
  // din, dout, in [d, S]; norms [S]
  // out = scale * u, u = x / (r + eps): dscale = sum(dout u); dx = scale (dout / (r + eps) - x (x . dout) / (r (r + eps)^2))
  for (int s = 0; s < S; ++s) {
    T dot = 0;
    for (int k = 0; k < d; ++k) dot += in[static_cast<long>(k) * S + s] * dout[static_cast<long>(k) * S + s];
    const T inv = T(1) / (norms[s] + T(kNormEps));
    *dscale += dot * inv;
    const T radial = norms[s] > T(0) ? dot * inv * inv / norms[s] : T(0);
    for (int k = 0; k < d; ++k) {
      const long i = static_cast<long>(k) * S + s;
      din[i] += scale * (dout[i] * inv - in[i] * radial);
    }
  }
}

template <class T>
void softmax_tokens_forward(T* probs, const T* logits, int B, int m, int S) {
  // logits, probs [B, m, S]: per example and slot, softmax over the m tokens; each pass runs along a chunk
  // of slots so that the compiler vectorises it
  parallel_for(B, kMinBlocks, [&](long begin, long end) {
    T max[kChunk], sum[kChunk];
    for (long b = begin; b < end; ++b)
      for (int s0 = 0; s0 < S; s0 += kChunk) {
        const int w = std::min(kChunk, S - s0);
        const T* z = logits + b * m * S + s0;
        T* p = probs + b * m * S + s0;
        for (int j = 0; j < w; ++j) max[j] = z[j];
        for (int i = 1; i < m; ++i) {
          const T* zi = z + static_cast<long>(i) * S;
          for (int j = 0; j < w; ++j) max[j] = zi[j] > max[j] ? zi[j] : max[j];
        }
        for (int i = 0; i < m; ++i) {
          const T* zi = z + static_cast<long>(i) * S;
          T* pi = p + static_cast<long>(i) * S;
          for (int j = 0; j < w; ++j) pi[j] = kernels::exp_fast(zi[j] - max[j]);
        }
        for (int j = 0; j < w; ++j) sum[j] = p[j];
        for (int i = 1; i < m; ++i) {
          const T* pi = p + static_cast<long>(i) * S;
          for (int j = 0; j < w; ++j) sum[j] += pi[j];
        }
        for (int j = 0; j < w; ++j) sum[j] = T(1) / sum[j];
        for (int i = 0; i < m; ++i) {
          T* pi = p + static_cast<long>(i) * S;
          for (int j = 0; j < w; ++j) pi[j] *= sum[j];
        }
      }
  });
}

template <class T>
void softmax_tokens_backward(T* dlogits, const T* dprobs, const T* probs, int B, int m, int S) {
  // dlogits, dprobs, probs [B, m, S]; dlogits accumulates
  parallel_for(B, kMinBlocks, [&](long begin, long end) {
    T dot[kChunk];
    for (long b = begin; b < end; ++b)
      for (int s0 = 0; s0 < S; s0 += kChunk) {
        const int w = std::min(kChunk, S - s0);
        const long base = b * m * S + s0;
        for (int j = 0; j < w; ++j) dot[j] = 0;
        for (int i = 0; i < m; ++i)
          for (int j = 0; j < w; ++j) {
            const long at = base + static_cast<long>(i) * S + j;
            dot[j] += probs[at] * dprobs[at];
          }
        for (int i = 0; i < m; ++i)
          for (int j = 0; j < w; ++j) {
            const long at = base + static_cast<long>(i) * S + j;
            dlogits[at] += probs[at] * (dprobs[at] - dot[j]);
          }
      }
  });
}

template <class T>
void softmax_slots_forward(T* probs, const T* logits, int R, int S) {
  // logits, probs [R, S]: softmax of each row
  parallel_for(R, kMinRows, [&](long begin, long end) {
    for (long r = begin; r < end; ++r) {
      const T* z = logits + r * S;
      T* p = probs + r * S;
      const T max = kernels::max_value(z, S);
      for (int s = 0; s < S; ++s) p[s] = kernels::exp_fast(z[s] - max);
      const T inv = T(1) / kernels::sum(p, S);
      for (int s = 0; s < S; ++s) p[s] *= inv;
    }
  });
}

template <class T>
void softmax_slots_backward(T* dlogits, const T* dprobs, const T* probs, int R, int S) {
  // dlogits, dprobs, probs [R, S]; dlogits accumulates
  parallel_for(R, kMinRows, [&](long begin, long end) {
    for (long r = begin; r < end; ++r) {
      const long base = r * S;
      const T dot = kernels::dot(probs + base, dprobs + base, S);
      for (int s = 0; s < S; ++s) dlogits[base + s] += probs[base + s] * (dprobs[base + s] - dot);
    }
  });
}

#define SOFTMOE_INSTANTIATE_ROUTING(T)                                                              \
  template void l2_normalize_rows_forward<T>(T*, T*, const T*, int, int);                          \
  template void l2_normalize_rows_backward<T>(T*, const T*, const T*, const T*, int, int);         \
  template void scaled_l2_normalize_columns_forward<T>(T*, T*, const T*, T, int, int);             \
  template void scaled_l2_normalize_columns_backward<T>(T*, T*, const T*, const T*, const T*, T,   \
                                                        int, int);                                 \
  template void softmax_tokens_forward<T>(T*, const T*, int, int, int);                            \
  template void softmax_tokens_backward<T>(T*, const T*, const T*, int, int, int);                 \
  template void softmax_slots_forward<T>(T*, const T*, int, int);                                  \
  template void softmax_slots_backward<T>(T*, const T*, const T*, int, int);
SOFTMOE_INSTANTIATE_ROUTING(float)
SOFTMOE_INSTANTIATE_ROUTING(double)

}  // namespace softmoe
