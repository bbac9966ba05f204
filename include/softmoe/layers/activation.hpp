#pragma once
// Elementwise activations over n values. GELU is the exact (erf) form, PyTorch's nn.GELU() default.
// Backward accumulates: dinp += dout * f'(in).
#include <cstddef>
#include <string>

namespace softmoe {

enum class Activation { relu, gelu };

Activation parse_activation(const std::string& name);  // "relu" | "gelu"; throws std::invalid_argument
const char* to_string(Activation activation);

template <class T>
void activation_forward(T* out, const T* in, std::size_t n, Activation activation);

template <class T>
void activation_backward(T* dinp, const T* dout, const T* in, std::size_t n, Activation activation);

// The same without accumulating: dinp = dout * f'(in).
template <class T>
void activation_gradient(T* dinp, const T* dout, const T* in, std::size_t n, Activation activation);

}  // namespace softmoe
