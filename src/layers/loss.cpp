#include "softmoe/layers/loss.hpp"

#include <algorithm>
#include <cmath>

namespace softmoe {

template <class T>
T softmax_cross_entropy_forward(T* probs, const T* logits, const std::int32_t* labels, int N, int K) {
  // probs [N, K]; logits [N, K]; labels [N]
  double total = 0;
  for (int r = 0; r < N; ++r) {
    const T* z = logits + static_cast<long>(r) * K;
    T* p = probs + static_cast<long>(r) * K;
    const T max = *std::max_element(z, z + K);
    T sum = 0;
    for (int k = 0; k < K; ++k) sum += p[k] = std::exp(z[k] - max);
    for (int k = 0; k < K; ++k) p[k] /= sum;
    total += static_cast<double>(std::log(sum) + max - z[labels[r]]);
  }
  return static_cast<T>(total / N);
}

template <class T>
void softmax_cross_entropy_backward(T* dlogits, const T* probs, const std::int32_t* labels, int N, int K,
                                    T dloss) {
  const T scale = dloss / T(N);
  for (int r = 0; r < N; ++r) {
    T* d = dlogits + static_cast<long>(r) * K;
    const T* p = probs + static_cast<long>(r) * K;
    for (int k = 0; k < K; ++k) d[k] += scale * p[k];
    d[labels[r]] -= scale;
  }
}

template <class T>
int count_correct(const T* logits, const std::int32_t* labels, int N, int K) {
  int correct = 0;
  for (int r = 0; r < N; ++r) {
    const T* z = logits + static_cast<long>(r) * K;
    correct += static_cast<int>(std::max_element(z, z + K) - z) == labels[r];
  }
  return correct;
}

template <class T>
T mse_forward(const T* pred, const T* target, std::size_t n) {
  double total = 0;
  for (std::size_t i = 0; i < n; ++i) {
    const double diff = static_cast<double>(pred[i]) - static_cast<double>(target[i]);
    total += diff * diff;
  }
  return static_cast<T>(total / static_cast<double>(n));
}

template <class T>
void mse_backward(T* dpred, const T* pred, const T* target, std::size_t n, T dloss) {
  const T scale = T(2) * dloss / static_cast<T>(n);
  for (std::size_t i = 0; i < n; ++i) dpred[i] += scale * (pred[i] - target[i]);
}

#define SOFTMOE_INSTANTIATE_LOSS(T)                                                                   \
  template T softmax_cross_entropy_forward<T>(T*, const T*, const std::int32_t*, int, int);          \
  template void softmax_cross_entropy_backward<T>(T*, const T*, const std::int32_t*, int, int, T);   \
  template int count_correct<T>(const T*, const std::int32_t*, int, int);                            \
  template T mse_forward<T>(const T*, const T*, std::size_t);                                        \
  template void mse_backward<T>(T*, const T*, const T*, std::size_t, T);
SOFTMOE_INSTANTIATE_LOSS(float)
SOFTMOE_INSTANTIATE_LOSS(double)

}  // namespace softmoe
