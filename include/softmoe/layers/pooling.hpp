#pragma once
// Pooling the L tokens of each example into one vector, a ViT's last step before its head:
//   x [B, L, D] -> y [B, D]
//   mean: y[b] = (1 / L) sum_t x[b, t]    (over every token, the class token included if there is one)
//   cls:  y[b] = x[b, 0]                  (the class token)
// No parameters. Backward accumulates into dx [B, L, D].
#include <string>

#include "softmoe/names.hpp"

namespace softmoe {

enum class Pool { mean, cls };

inline constexpr EnumName<Pool> kPoolNames[] = {{Pool::cls, "cls"}, {Pool::mean, "mean"}};

// throws std::invalid_argument naming the known names
inline Pool parse_pool(const std::string& name) { return value_named(name, kPoolNames, "pooling"); }
inline const char* to_string(Pool value) { return name_of(value, kPoolNames); }

template <class T>
void pool_forward(T* y, const T* x, int B, int L, int D, Pool pool);

template <class T>
void pool_backward(T* dx, const T* dy, int B, int L, int D, Pool pool);

}  // namespace softmoe
