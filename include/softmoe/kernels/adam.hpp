#pragma once
// Adam's element-wise update of params, grads, m, v [n], vectorised (xsimd) and split over the engine's
// threads in fixed blocks (the result does not depend on the thread count):
//   g = grads + l2 params;  m = b1 m + (1 - b1) g;  v = b2 v + (1 - b2) g^2
//   params = decay params - step_size m / (sqrt(v) inv_sqrt_bc2 + eps)
#include <cstddef>

namespace softmoe::kernels {

template <class T>
struct AdamCoefficients {
  T b1, b2, eps, step_size, inv_sqrt_bc2, decay, l2;
};

template <class T>
void adam_update(T* params, const T* grads, T* m, T* v, std::size_t n, const AdamCoefficients<T>& c);

}  // namespace softmoe::kernels
