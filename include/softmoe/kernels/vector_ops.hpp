#pragma once
// Small inline vector kernels written so that GCC vectorises them without -ffast-math: reductions keep
// kLanes independent partial results (one SIMD register of floats) and combine them in a fixed order,
// so a result depends only on its inputs, never on the thread count. exp_fast is a branch-free
// exponential the compiler can vectorise (glibc's expf cannot be, without -ffast-math).
#include <cmath>
#include <cstdint>
#include <cstring>

namespace softmoe::kernels {

inline constexpr int kLanes = 16;

template <class T>
inline T combine_lanes(T* acc) {
  for (int width = kLanes / 2; width > 0; width /= 2)
    for (int j = 0; j < width; ++j) acc[j] += acc[j + width];
  return acc[0];
}

// sum_k a[k] b[k] over n values
template <class T>
inline T dot(const T* a, const T* b, long n) {
  T acc[kLanes] = {};
  long k = 0;
  for (; k + kLanes <= n; k += kLanes)
    for (int j = 0; j < kLanes; ++j) acc[j] += a[k + j] * b[k + j];
  for (int j = 0; k + j < n; ++j) acc[j] += a[k + j] * b[k + j];
  return combine_lanes(acc);
}

// sum_k x[k] over n values
template <class T>
inline T sum(const T* x, long n) {
  T acc[kLanes] = {};
  long k = 0;
  for (; k + kLanes <= n; k += kLanes)
    for (int j = 0; j < kLanes; ++j) acc[j] += x[k + j];
  for (int j = 0; k + j < n; ++j) acc[j] += x[k + j];
  return combine_lanes(acc);
}

// max_k x[k] over n > 0 values (NaN-propagating like std::max chains is not guaranteed)
template <class T>
inline T max_value(const T* x, long n) {
  T acc[kLanes];
  for (int j = 0; j < kLanes; ++j) acc[j] = x[0];
  long k = 0;
  for (; k + kLanes <= n; k += kLanes)
    for (int j = 0; j < kLanes; ++j) acc[j] = x[k + j] > acc[j] ? x[k + j] : acc[j];
  for (int j = 0; k + j < n; ++j) acc[j] = x[k + j] > acc[j] ? x[k + j] : acc[j];
  for (int width = kLanes / 2; width > 0; width /= 2)
    for (int j = 0; j < width; ++j) acc[j] = acc[j + width] > acc[j] ? acc[j + width] : acc[j];
  return acc[0];
}

// y[k] += alpha x[k]
template <class T>
inline void axpy(T* __restrict y, T alpha, const T* __restrict x, long n) {
  for (long k = 0; k < n; ++k) y[k] += alpha * x[k];
}

// y[k] = alpha x[k]
template <class T>
inline void scale(T* __restrict y, T alpha, const T* __restrict x, long n) {
  for (long k = 0; k < n; ++k) y[k] = alpha * x[k];
}

// e^x in float, within about 2 ulp (Cephes' expf polynomial); 0 below -87.3, inf above 88.3, NaN for
// NaN. Integer parts come from the float's bits (no float-to-int conversion, so no undefined behaviour).
inline float exp_fast(float x) {
  constexpr float kMax = 88.37626f, kMin = -87.33654f;  // 2^n stays a normal float
  const float clamped = x > kMax ? kMax : (x < kMin ? kMin : x);
  constexpr float kRound = 12582912.0f;  // 1.5 * 2^23: adding it rounds to an integer in the low bits
  const float shifted = clamped * 1.44269504088896341f + kRound;
  const float n = shifted - kRound;
  const float r = clamped - n * 0.693359375f + n * 2.12194440e-4f;
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  const float poly = p * r * r + r + 1.0f;
  std::uint32_t bits;
  std::memcpy(&bits, &shifted, sizeof bits);
  bits = (bits - 0x4B400000u + 127u) << 23;  // 2^n
  float two_n;
  std::memcpy(&two_n, &bits, sizeof two_n);
  const float y = poly * two_n;
  return x < kMin ? 0.0f : (x > kMax ? INFINITY : y);
}

inline double exp_fast(double x) { return std::exp(x); }

}  // namespace softmoe::kernels
