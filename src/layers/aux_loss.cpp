#include "softmoe/layers/aux_loss.hpp"

#include <algorithm>
#include <cmath>

#include "softmoe/layers/top_k.hpp"

namespace softmoe {
namespace {

template <class T>
void mean_and_variance(const T* v, int n, T& mean, T& variance) {
  T sum = 0;
  for (int e = 0; e < n; ++e) sum += v[e];
  mean = sum / n;
  T squares = 0;
  for (int e = 0; e < n; ++e) squares += (v[e] - mean) * (v[e] - mean);
  variance = squares / n;
}

// column sums of rows [S, n] into out [n], each times `scale`
template <class T>
void column_sums(T* out, const T* rows, int S, int n, T scale) {
  std::fill(out, out + n, T(0));
  for (int s = 0; s < S; ++s)
    for (int e = 0; e < n; ++e) out[e] += rows[static_cast<long>(s) * n + e];
  for (int e = 0; e < n; ++e) out[e] *= scale;
}

template <class T>
T normal_cdf(T z) {
  return T(0.5) * std::erfc(-z / std::sqrt(T(2)));
}

template <class T>
T normal_pdf(T z) {
  return std::exp(T(-0.5) * z * z) / std::sqrt(T(2) * T(M_PI));
}

// p[s, e] = 1 - Phi((tau_s - clean[s, e]) / sigma) summed over s, into load [n] (mean)
template <class T>
void load_vector(T* load, const T* clean, const T* noisy, int S, int n, int k, T sigma, int* iscratch) {
  std::fill(load, load + n, T(0));
  int* best = iscratch + n;
  for (int s = 0; s < S; ++s) {
    top_k_descending(best, noisy + static_cast<long>(s) * n, 1, n, k, iscratch);
    const T tau = noisy[static_cast<long>(s) * n + best[k - 1]];
    for (int e = 0; e < n; ++e) load[e] += T(1) - normal_cdf((tau - clean[static_cast<long>(s) * n + e]) / sigma);
  }
  for (int e = 0; e < n; ++e) load[e] /= S;
}

}  // namespace

template <class T>
T cv_squared(const T* v, int n) {
  T mean, variance;
  mean_and_variance(v, n, mean, variance);
  return variance / (mean * mean);
}

template <class T>
void cv_squared_backward(T* dv, const T* v, int n, T scale) {
  T mean, variance;
  mean_and_variance(v, n, mean, variance);
  const T factor = scale * T(2) / (n * mean * mean);
  for (int e = 0; e < n; ++e) dv[e] += factor * ((v[e] - mean) - variance / mean);
}

template <class T>
T importance_loss(const T* probs, int S, int n, T* scratch) {
  column_sums(scratch, probs, S, n, T(1));
  return cv_squared(scratch, n);
}

template <class T>
void importance_loss_backward(T* dprobs, const T* probs, int S, int n, T scale, T* scratch) {
  T* importance = scratch;
  T* dimportance = scratch + n;
  column_sums(importance, probs, S, n, T(1));
  std::fill(dimportance, dimportance + n, T(0));
  cv_squared_backward(dimportance, importance, n, scale);
  for (int s = 0; s < S; ++s)
    for (int e = 0; e < n; ++e) dprobs[static_cast<long>(s) * n + e] += dimportance[e];
}

template <class T>
T load_loss(const T* clean, const T* noisy, int S, int n, int k, T sigma, T* scratch, int* iscratch) {
  load_vector(scratch, clean, noisy, S, n, k, sigma, iscratch);
  return cv_squared(scratch, n);
}

template <class T>
void load_loss_backward(T* dclean, T* dnoisy, const T* clean, const T* noisy, int S, int n, int k, T sigma, T scale,
                        T* scratch, int* iscratch) {
  T* load = scratch;
  T* dload = scratch + n;
  load_vector(load, clean, noisy, S, n, k, sigma, iscratch);
  std::fill(dload, dload + n, T(0));
  cv_squared_backward(dload, load, n, scale / S);  // d/dp[s, e] = dLoad_e / S
  int* best = iscratch + n;
  for (int s = 0; s < S; ++s) {
    const long row = static_cast<long>(s) * n;
    top_k_descending(best, noisy + row, 1, n, k, iscratch);
    const T tau = noisy[row + best[k - 1]];
    T dtau = 0;
    for (int e = 0; e < n; ++e) {
      // p = 1 - Phi(z), z = (tau - clean) / sigma: dp/dclean = pdf(z) / sigma, dp/dtau = -pdf(z) / sigma
      const T slope = normal_pdf((tau - clean[row + e]) / sigma) / sigma;
      dclean[row + e] += dload[e] * slope;
      dtau -= dload[e] * slope;
    }
    dnoisy[row + best[k - 1]] += dtau;
  }
}

template <class T>
T switch_loss(const T* gates, int S, int n, T* scratch) {
  T* share = scratch;
  T* mean_gate = scratch + n;
  std::fill(share, share + n, T(0));
  for (int s = 0; s < S; ++s) {
    const T* g = gates + static_cast<long>(s) * n;
    share[std::max_element(g, g + n) - g] += T(1) / S;  // first maximum: ties to the lower index
  }
  column_sums(mean_gate, gates, S, n, T(1) / S);
  T loss = 0;
  for (int e = 0; e < n; ++e) loss += share[e] * mean_gate[e];
  return n * loss;
}

template <class T>
void switch_loss_backward(T* dgates, const T* gates, int S, int n, T scale, T* scratch) {
  T* share = scratch;
  std::fill(share, share + n, T(0));
  for (int s = 0; s < S; ++s) {
    const T* g = gates + static_cast<long>(s) * n;
    share[std::max_element(g, g + n) - g] += T(1) / S;
  }
  for (int s = 0; s < S; ++s)
    for (int e = 0; e < n; ++e) dgates[static_cast<long>(s) * n + e] += scale * n * share[e] / S;
}

#define SOFTMOE_AUX_LOSS(T)                                                                                    \
  template T cv_squared<T>(const T*, int);                                                                     \
  template void cv_squared_backward<T>(T*, const T*, int, T);                                                  \
  template T importance_loss<T>(const T*, int, int, T*);                                                       \
  template void importance_loss_backward<T>(T*, const T*, int, int, T, T*);                                    \
  template T load_loss<T>(const T*, const T*, int, int, int, T, T*, int*);                                     \
  template void load_loss_backward<T>(T*, T*, const T*, const T*, int, int, int, T, T, T*, int*);             \
  template T switch_loss<T>(const T*, int, int, T*);                                                           \
  template void switch_loss_backward<T>(T*, const T*, int, int, T, T*);
SOFTMOE_AUX_LOSS(float)
SOFTMOE_AUX_LOSS(double)
#undef SOFTMOE_AUX_LOSS

}  // namespace softmoe
