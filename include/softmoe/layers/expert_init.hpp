#pragma once
// The experts' weights as PyTorch's nn.Linear default, shared by the Soft MoE and the sparse layers:
// w1 [n, d, h], b1 [n, h] uniform in +-1/sqrt(d); w2 [n, h, d_out], b2 [n, d_out] uniform in +-1/sqrt(h);
// drawn in that order (biases skipped when null).
#include <cmath>

#include "softmoe/rng.hpp"

namespace softmoe {

template <class T>
void experts_init(T* w1, T* b1, T* w2, T* b2, long n, long d, long h, long d_out, Rng& rng) {
  const double bound1 = 1.0 / std::sqrt(static_cast<double>(d)), bound2 = 1.0 / std::sqrt(static_cast<double>(h));
  for (long i = 0; i < n * d * h; ++i) w1[i] = static_cast<T>(rng.uniform(-bound1, bound1));
  if (b1)
    for (long i = 0; i < n * h; ++i) b1[i] = static_cast<T>(rng.uniform(-bound1, bound1));
  for (long i = 0; i < n * h * d_out; ++i) w2[i] = static_cast<T>(rng.uniform(-bound2, bound2));
  if (b2)
    for (long i = 0; i < n * d_out; ++i) b2[i] = static_cast<T>(rng.uniform(-bound2, bound2));
}

// A linear layer's weight [O, I] then bias [O] (null: none), uniform in +-1/sqrt(I).
template <class T>
void linear_init(T* weight, T* bias, long I, long O, Rng& rng) {
  const double bound = 1.0 / std::sqrt(static_cast<double>(I));
  for (long i = 0; i < O * I; ++i) weight[i] = static_cast<T>(rng.uniform(-bound, bound));
  if (bias)
    for (long o = 0; o < O; ++o) bias[o] = static_cast<T>(rng.uniform(-bound, bound));
}

}  // namespace softmoe
