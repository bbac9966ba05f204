#include "softmoe/layers/pooling.hpp"

#include <algorithm>
#include <stdexcept>

namespace softmoe {



template <class T>
void pool_forward(T* y, const T* x, int B, int L, int D, Pool pool) {
  // y [B, D]; x [B, L, D]
  for (int b = 0; b < B; ++b) {
    const T* in = x + static_cast<long>(b) * L * D;
    T* out = y + static_cast<long>(b) * D;
    if (pool == Pool::cls) {
      std::copy(in, in + D, out);
      continue;
    }
    std::fill(out, out + D, T(0));
    for (int t = 0; t < L; ++t)
      for (int k = 0; k < D; ++k) out[k] += in[static_cast<long>(t) * D + k];
    const T inv = T(1) / T(L);
    for (int k = 0; k < D; ++k) out[k] *= inv;
  }
}

template <class T>
void pool_backward(T* dx, const T* dy, int B, int L, int D, Pool pool) {
  // dx [B, L, D] += ...; dy [B, D]
  for (int b = 0; b < B; ++b) {
    T* din = dx + static_cast<long>(b) * L * D;
    const T* grad = dy + static_cast<long>(b) * D;
    if (pool == Pool::cls) {
      for (int k = 0; k < D; ++k) din[k] += grad[k];
      continue;
    }
    const T inv = T(1) / T(L);
    for (int t = 0; t < L; ++t)
      for (int k = 0; k < D; ++k) din[static_cast<long>(t) * D + k] += grad[k] * inv;
  }
}

template void pool_forward<float>(float*, const float*, int, int, int, Pool);
template void pool_forward<double>(double*, const double*, int, int, int, Pool);
template void pool_backward<float>(float*, const float*, int, int, int, Pool);
template void pool_backward<double>(double*, const double*, int, int, int, Pool);

}  // namespace softmoe
