#include "softmoe/layers/layernorm.hpp"

#include <algorithm>
#include <cmath>

namespace softmoe {

template <class T>
void layernorm_forward(T* y, T* mean, T* rstd, const T* x, const T* gamma, const T* beta, int R, int D) {
  // y [R, D]; mean, rstd [R]; x [R, D]; gamma, beta [D]
  for (int r = 0; r < R; ++r) {
    const T* in = x + static_cast<long>(r) * D;
    T* out = y + static_cast<long>(r) * D;
    T sum = 0;
    for (int k = 0; k < D; ++k) sum += in[k];
    const T mu = sum / T(D);
    T sq = 0;  // two passes: no cancellation for rows far from zero
    for (int k = 0; k < D; ++k) sq += (in[k] - mu) * (in[k] - mu);
    const T inv = T(1) / std::sqrt(sq / T(D) + T(kLayerNormEps));
    for (int k = 0; k < D; ++k) out[k] = (in[k] - mu) * inv * gamma[k] + beta[k];
    mean[r] = mu;
    rstd[r] = inv;
  }
}

template <class T>
void layernorm_backward(T* dx, T* dgamma, T* dbeta, const T* dy, const T* x, const T* mean, const T* rstd,
                        const T* gamma, int R, int D) {
  // dx [R, D]; dgamma, dbeta [D]; dy, x [R, D]; mean, rstd [R]; gamma [D]
  // With xhat = (x - mean) rstd and g = dy gamma:  dx = rstd (g - mean(g) - xhat mean(g xhat)).
  for (int r = 0; r < R; ++r) {
    const long base = static_cast<long>(r) * D;
    const T mu = mean[r], inv = rstd[r];
    T g_sum = 0, g_xhat_sum = 0;
    for (int k = 0; k < D; ++k) {
      const T xhat = (x[base + k] - mu) * inv;
      const T g = dy[base + k] * gamma[k];
      g_sum += g;
      g_xhat_sum += g * xhat;
      dgamma[k] += dy[base + k] * xhat;
      dbeta[k] += dy[base + k];
    }
    if (!dx) continue;
    const T g_mean = g_sum / T(D), g_xhat_mean = g_xhat_sum / T(D);
    for (int k = 0; k < D; ++k) {
      const T xhat = (x[base + k] - mu) * inv;
      dx[base + k] += inv * (dy[base + k] * gamma[k] - g_mean - xhat * g_xhat_mean);
    }
  }
}

template <class T>
LayerNormParamIds layernorm_register(ParamBuffer<T>& params, int D, const std::string& prefix) {
  const auto d = static_cast<std::size_t>(D);
  LayerNormParamIds ids{};
  ids.weight = params.add(prefix + "weight", {d});
  ids.bias = params.add(prefix + "bias", {d});
  return ids;
}

template <class T>
void layernorm_init(LayerNormTensors<T> w, int D) {
  std::fill(w.weight, w.weight + D, T(1));
  std::fill(w.bias, w.bias + D, T(0));
}

#define SOFTMOE_INSTANTIATE_LAYERNORM(T)                                                                 \
  template void layernorm_forward<T>(T*, T*, T*, const T*, const T*, const T*, int, int);              \
  template void layernorm_backward<T>(T*, T*, T*, const T*, const T*, const T*, const T*, const T*, int, \
                                      int);                                                            \
  template LayerNormParamIds layernorm_register<T>(ParamBuffer<T>&, int, const std::string&);           \
  template void layernorm_init<T>(LayerNormTensors<T>, int);
SOFTMOE_INSTANTIATE_LAYERNORM(float)
SOFTMOE_INSTANTIATE_LAYERNORM(double)

}  // namespace softmoe
