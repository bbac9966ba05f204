#include "softmoe/layers/label_smoothing.hpp"

#include <algorithm>
#include <cmath>

namespace softmoe {

template <class T>
T smoothed_cross_entropy_forward(T* probs, const T* logits, const std::int32_t* labels, int N, int K,
                                 double smoothing) {
  // probs [N, K]; logits [N, K]; labels [N]
  const double off = smoothing / K, on = 1.0 - smoothing;
  double total = 0;
  for (int r = 0; r < N; ++r) {
    const T* z = logits + static_cast<long>(r) * K;
    T* p = probs + static_cast<long>(r) * K;
    const T max = *std::max_element(z, z + K);
    T sum = 0;
    double logit_sum = 0;
    for (int k = 0; k < K; ++k) {
      sum += p[k] = std::exp(z[k] - max);
      logit_sum += static_cast<double>(z[k]);
    }
    for (int k = 0; k < K; ++k) p[k] /= sum;
    const double lse = static_cast<double>(std::log(sum) + max);
    total += lse - on * static_cast<double>(z[labels[r]]) - off * logit_sum;
  }
  return static_cast<T>(total / N);
}

template <class T>
void smoothed_cross_entropy_backward(T* dlogits, const T* probs, const std::int32_t* labels, int N, int K,
                                     double smoothing, T dloss) {
  const T scale = dloss / T(N), off = static_cast<T>(smoothing / K), on = static_cast<T>(1.0 - smoothing);
  for (int r = 0; r < N; ++r) {
    T* d = dlogits + static_cast<long>(r) * K;
    const T* p = probs + static_cast<long>(r) * K;
    for (int k = 0; k < K; ++k) d[k] += scale * (p[k] - off);
    d[labels[r]] -= scale * on;
  }
}

#define SOFTMOE_INSTANTIATE_SMOOTHED(T)                                                                    \
  template T smoothed_cross_entropy_forward<T>(T*, const T*, const std::int32_t*, int, int, double);      \
  template void smoothed_cross_entropy_backward<T>(T*, const T*, const std::int32_t*, int, int, double, T);
SOFTMOE_INSTANTIATE_SMOOTHED(float)
SOFTMOE_INSTANTIATE_SMOOTHED(double)

}  // namespace softmoe
