#include "softmoe/layers/routing.hpp"

#include <algorithm>
#include <cmath>

#include "softmoe/layers/softmoe.hpp"

namespace softmoe {

template <class T>
void l2_normalize_rows_forward(T* out, T* norms, const T* in, int R, int d) {
  for (int r = 0; r < R; ++r) {
    const T* x = in + static_cast<long>(r) * d;
    T* y = out + static_cast<long>(r) * d;
    T sq = 0;
    for (int k = 0; k < d; ++k) sq += x[k] * x[k];
    norms[r] = std::sqrt(sq);
    const T inv = T(1) / (norms[r] + T(kNormEps));
    for (int k = 0; k < d; ++k) y[k] = x[k] * inv;
  }
}

template <class T>
void l2_normalize_rows_backward(T* din, const T* dout, const T* in, const T* norms, int R, int d) {
  // y = x / (r + eps)  =>  dx = dy / (r + eps) - x (x . dy) / (r (r + eps)^2)
  for (int r = 0; r < R; ++r) {
    const long base = static_cast<long>(r) * d;
    const T norm = norms[r];
    const T inv = T(1) / (norm + T(kNormEps));
    T dot = 0;
    for (int k = 0; k < d; ++k) dot += in[base + k] * dout[base + k];
    const T radial = norm > T(0) ? dot * inv * inv / norm : T(0);
    for (int k = 0; k < d; ++k) din[base + k] += dout[base + k] * inv - in[base + k] * radial;
  }
}

template <class T>
void scaled_l2_normalize_columns_forward(T* out, T* norms, const T* in, T scale, int d, int S) {
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
  for (int b = 0; b < B; ++b) {
    const long base = static_cast<long>(b) * m * S;
    for (int s = 0; s < S; ++s) {
      T max = logits[base + s];
      for (int i = 1; i < m; ++i) max = std::max(max, logits[base + static_cast<long>(i) * S + s]);
      T sum = 0;
      for (int i = 0; i < m; ++i) {
        const long at = base + static_cast<long>(i) * S + s;
        sum += probs[at] = std::exp(logits[at] - max);
      }
      const T inv = T(1) / sum;
      for (int i = 0; i < m; ++i) probs[base + static_cast<long>(i) * S + s] *= inv;
    }
  }
}

template <class T>
void softmax_tokens_backward(T* dlogits, const T* dprobs, const T* probs, int B, int m, int S) {
  for (int b = 0; b < B; ++b) {
    const long base = static_cast<long>(b) * m * S;
    for (int s = 0; s < S; ++s) {
      T dot = 0;
      for (int i = 0; i < m; ++i) {
        const long at = base + static_cast<long>(i) * S + s;
        dot += probs[at] * dprobs[at];
      }
      for (int i = 0; i < m; ++i) {
        const long at = base + static_cast<long>(i) * S + s;
        dlogits[at] += probs[at] * (dprobs[at] - dot);
      }
    }
  }
}

template <class T>
void softmax_slots_forward(T* probs, const T* logits, int R, int S) {
  for (int r = 0; r < R; ++r) {
    const T* z = logits + static_cast<long>(r) * S;
    T* p = probs + static_cast<long>(r) * S;
    const T max = *std::max_element(z, z + S);
    T sum = 0;
    for (int s = 0; s < S; ++s) sum += p[s] = std::exp(z[s] - max);
    const T inv = T(1) / sum;
    for (int s = 0; s < S; ++s) p[s] *= inv;
  }
}

template <class T>
void softmax_slots_backward(T* dlogits, const T* dprobs, const T* probs, int R, int S) {
  for (int r = 0; r < R; ++r) {
    const long base = static_cast<long>(r) * S;
    T dot = 0;
    for (int s = 0; s < S; ++s) dot += probs[base + s] * dprobs[base + s];
    for (int s = 0; s < S; ++s) dlogits[base + s] += probs[base + s] * (dprobs[base + s] - dot);
  }
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
