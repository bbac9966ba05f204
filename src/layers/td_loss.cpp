#include "softmoe/layers/td_loss.hpp"

#include <cmath>

namespace softmoe {

template <class T>
T td_huber_forward(const T* q, const std::int32_t* actions, const T* targets, int B, int A) {
  double total = 0;
  for (int b = 0; b < B; ++b) {
    const double e = static_cast<double>(q[static_cast<long>(b) * A + actions[b]]) - targets[b];
    total += std::abs(e) < 1 ? 0.5 * e * e : std::abs(e) - 0.5;
  }
  return static_cast<T>(total / B);
}

template <class T>
void td_huber_backward(T* dq, const T* q, const std::int32_t* actions, const T* targets, int B, int A, T dloss) {
  const T scale = dloss / static_cast<T>(B);
  for (int b = 0; b < B; ++b) {
    const long at = static_cast<long>(b) * A + actions[b];
    const T e = q[at] - targets[b];
    dq[at] += scale * (e > 1 ? T(1) : e < -1 ? T(-1) : e);
  }
}

template float td_huber_forward<float>(const float*, const std::int32_t*, const float*, int, int);
template double td_huber_forward<double>(const double*, const std::int32_t*, const double*, int, int);
template void td_huber_backward<float>(float*, const float*, const std::int32_t*, const float*, int, int, float);
template void td_huber_backward<double>(double*, const double*, const std::int32_t*, const double*, int, int,
                                        double);

}  // namespace softmoe
