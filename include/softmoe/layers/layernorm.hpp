#pragma once
// Layer normalisation over the last dimension, PyTorch's nn.LayerNorm(D) (biased variance, eps 1e-5):
//   x, y [R, D]; gamma [D]; beta [D]; mean, rstd [R] kept for backward
//   y = (x - mean) * rstd * gamma + beta,   rstd = 1 / sqrt(var + eps)
// R is any number of rows (B * L for L tokens of B examples).
// Parameters under a prefix, as nn.LayerNorm's state_dict: weight (gamma) [D], bias (beta) [D].
// Backward accumulates: dgamma [D], dbeta [D], dx [R, D] (skipped when dx is null).
#include <cstddef>
#include <string>

#include "softmoe/params.hpp"

namespace softmoe {

inline constexpr double kLayerNormEps = 1e-5;

template <class T>
void layernorm_forward(T* y, T* mean, T* rstd, const T* x, const T* gamma, const T* beta, int R, int D);

template <class T>
void layernorm_backward(T* dx, T* dgamma, T* dbeta, const T* dy, const T* x, const T* mean, const T* rstd,
                        const T* gamma, int R, int D);

// Pointers to the layer's tensors inside a ParamBuffer (values or gradients).
template <class T>
struct LayerNormTensors {
  T* weight = nullptr;  // gamma [D]
  T* bias = nullptr;    // beta [D]
};

struct LayerNormParamIds {
  std::size_t weight, bias;

  template <class T>
  LayerNormTensors<T> values(ParamBuffer<T>& params) const {
    return {params.value(weight), params.value(bias)};
  }
  template <class T>
  LayerNormTensors<T> grads(ParamBuffer<T>& params) const {
    return {params.grad(weight), params.grad(bias)};
  }
};

// Registers PREFIX + "weight" [D] and PREFIX + "bias" [D].
template <class T>
LayerNormParamIds layernorm_register(ParamBuffer<T>& params, int D, const std::string& prefix = "");

// PyTorch's initialisation: gamma 1, beta 0.
template <class T>
void layernorm_init(LayerNormTensors<T> w, int D);

}  // namespace softmoe
