#pragma once
// Elementwise activations over n values. GELU is the exact (erf) form, PyTorch's nn.GELU() default.
// Backward accumulates: dinp += dout * f'(in).
#include <cstddef>
#include <string>

#include "softmoe/names.hpp"

namespace softmoe {

enum class Activation { relu, gelu };

inline constexpr EnumName<Activation> kActivationNames[] = {{Activation::relu, "relu"}, {Activation::gelu, "gelu"}};

// throws std::invalid_argument naming the known names
inline Activation parse_activation(const std::string& name) { return value_named(name, kActivationNames, "activation"); }
inline const char* to_string(Activation value) { return name_of(value, kActivationNames); }

template <class T>
void activation_forward(T* out, const T* in, std::size_t n, Activation activation);

template <class T>
void activation_backward(T* dinp, const T* dout, const T* in, std::size_t n, Activation activation);

// The same without accumulating: dinp = dout * f'(in).
template <class T>
void activation_gradient(T* dinp, const T* dout, const T* in, std::size_t n, Activation activation);

}  // namespace softmoe
