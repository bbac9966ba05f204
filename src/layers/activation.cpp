#include "softmoe/layers/activation.hpp"

#include <algorithm>
#include <cmath>
#include <stdexcept>

namespace softmoe {



template <class T>
void activation_forward(T* out, const T* in, std::size_t n, Activation activation) {
  if (activation == Activation::relu) {
    for (std::size_t i = 0; i < n; ++i) out[i] = in[i] > T(0) ? in[i] : T(0);
  } else {
    const T inv_sqrt2 = T(M_SQRT1_2);
    for (std::size_t i = 0; i < n; ++i) out[i] = T(0.5) * in[i] * (T(1) + std::erf(in[i] * inv_sqrt2));
  }
}

template <class T>
void activation_backward(T* dinp, const T* dout, const T* in, std::size_t n, Activation activation) {
  if (activation == Activation::relu) {
    for (std::size_t i = 0; i < n; ++i) dinp[i] += in[i] > T(0) ? dout[i] : T(0);
  } else {
    const T inv_sqrt2 = T(M_SQRT1_2);
    const T inv_sqrt_2pi = T(0.5 * M_2_SQRTPI * M_SQRT1_2);
    for (std::size_t i = 0; i < n; ++i) {
      const T cdf = T(0.5) * (T(1) + std::erf(in[i] * inv_sqrt2));
      const T pdf = inv_sqrt_2pi * std::exp(T(-0.5) * in[i] * in[i]);
      dinp[i] += dout[i] * (cdf + in[i] * pdf);
    }
  }
}

template <class T>
void activation_gradient(T* dinp, const T* dout, const T* in, std::size_t n, Activation activation) {
  // dinp, dout, in [n]
  if (activation == Activation::relu) {
    for (std::size_t i = 0; i < n; ++i) dinp[i] = in[i] > T(0) ? dout[i] : T(0);
  } else {
    std::fill(dinp, dinp + n, T(0));
    activation_backward(dinp, dout, in, n, activation);
  }
}

template void activation_forward<float>(float*, const float*, std::size_t, Activation);
template void activation_forward<double>(double*, const double*, std::size_t, Activation);
template void activation_backward<float>(float*, const float*, const float*, std::size_t, Activation);
template void activation_backward<double>(double*, const double*, const double*, std::size_t,
                                          Activation);
template void activation_gradient<float>(float*, const float*, const float*, std::size_t, Activation);
template void activation_gradient<double>(double*, const double*, const double*, std::size_t, Activation);

}  // namespace softmoe
