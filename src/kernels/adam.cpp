// GCC 12's AVX-512 intrinsics trip -Wmaybe-uninitialized on their own _mm512_undefined_* (GCC bug 105593);
// the pragma must enclose the whole file, as the warning is issued where the intrinsics are inlined.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include "softmoe/kernels/adam.hpp"

#include <algorithm>
#include <cmath>
#include <xsimd/xsimd.hpp>

#include "softmoe/kernels/parallel.hpp"

namespace softmoe::kernels {
namespace {

constexpr long kBlock = 4096;  // values per unit of work handed to a thread

template <class T>
void adam_range(T* params, const T* grads, T* m, T* v, long begin, long end, const AdamCoefficients<T>& c) {
  // params, grads, m, v [begin, end): std::fma and xsimd::fma round alike, so lanes and tail agree
  using Batch = xsimd::batch<T>;
  constexpr long width = static_cast<long>(Batch::size);
  const T one_minus_b1 = T(1) - c.b1, one_minus_b2 = T(1) - c.b2;
  long i = begin;
  for (; i + width <= end; i += width) {
    const Batch p = Batch::load_unaligned(params + i);
    const Batch g = xsimd::fma(Batch(c.l2), p, Batch::load_unaligned(grads + i));
    const Batch mi = xsimd::fma(Batch(c.b1), Batch::load_unaligned(m + i), Batch(one_minus_b1) * g);
    const Batch vi = xsimd::fma(Batch(c.b2), Batch::load_unaligned(v + i), Batch(one_minus_b2) * g * g);
    mi.store_unaligned(m + i);
    vi.store_unaligned(v + i);
    const Batch denominator = xsimd::fma(xsimd::sqrt(vi), Batch(c.inv_sqrt_bc2), Batch(c.eps));
    xsimd::fms(Batch(c.decay), p, Batch(c.step_size) * mi / denominator).store_unaligned(params + i);
  }
  for (; i < end; ++i) {
    const T g = std::fma(c.l2, params[i], grads[i]);
    m[i] = std::fma(c.b1, m[i], one_minus_b1 * g);
    v[i] = std::fma(c.b2, v[i], one_minus_b2 * g * g);
    const T denominator = std::fma(std::sqrt(v[i]), c.inv_sqrt_bc2, c.eps);
    params[i] = std::fma(c.decay, params[i], -(c.step_size * m[i] / denominator));
  }
}

}  // namespace

template <class T>
void adam_update(T* params, const T* grads, T* m, T* v, std::size_t n, const AdamCoefficients<T>& c) {
  const long count = static_cast<long>(n), blocks = (count + kBlock - 1) / kBlock;
  parallel_for(blocks, 4, [&](long first, long last) {
    adam_range(params, grads, m, v, first * kBlock, std::min(count, last * kBlock), c);
  });
}

template void adam_update<float>(float*, const float*, float*, float*, std::size_t, const AdamCoefficients<float>&);
template void adam_update<double>(double*, const double*, double*, double*, std::size_t,
                                  const AdamCoefficients<double>&);

}  // namespace softmoe::kernels

#pragma GCC diagnostic pop
