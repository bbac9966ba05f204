#pragma once
// Central finite differences in double precision, compared with an analytic gradient by
// ||g - g_num|| / max(||g + g_num||, tiny), mlpack's criterion.
#include <cmath>
#include <cstddef>
#include <vector>

#include "softmoe/rng.hpp"

namespace softmoe::testing {

// loss() is re-evaluated after each perturbation of x[i]; x is restored afterwards.
template <class Loss>
double gradient_error(double* x, const double* analytic, std::size_t n, Loss loss, double step = 1e-6) {
  double diff = 0, sum = 0;
  for (std::size_t i = 0; i < n; ++i) {
    const double saved = x[i];
    x[i] = saved + step;
    const double up = loss();
    x[i] = saved - step;
    const double down = loss();
    x[i] = saved;
    const double numeric = (up - down) / (2 * step);
    diff += (analytic[i] - numeric) * (analytic[i] - numeric);
    sum += (analytic[i] + numeric) * (analytic[i] + numeric);
  }
  return std::sqrt(diff) / std::max(std::sqrt(sum), 1e-300);
}

inline std::vector<double> random_vector(std::size_t n, Rng& rng, double scale = 1.0) {
  std::vector<double> v(n);
  for (auto& x : v) x = scale * rng.normal();
  return v;
}

// sum_i weights[i] * values[i]: a scalar loss whose gradient with respect to values is weights.
inline double weighted_sum(const double* values, const std::vector<double>& weights) {
  double total = 0;
  for (std::size_t i = 0; i < weights.size(); ++i) total += values[i] * weights[i];
  return total;
}

}  // namespace softmoe::testing
