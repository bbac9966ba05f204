#include "softmoe/data/synthetic.hpp"

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <vector>

#include "softmoe/rng.hpp"

namespace softmoe {



RegressionData make_synthetic(const SyntheticSpec& spec, int count, Rng& rng) {
  const int m = spec.tokens, d = spec.dim;
  RegressionData data;
  data.count = count;
  data.x = make_buffer<float>(static_cast<std::size_t>(count) * m * d);
  data.y = make_buffer<float>(static_cast<std::size_t>(count));
  std::vector<double> direction(d);
  for (int n = 0; n < count; ++n) {
    double squared_total = 0, longest = 0;
    for (int i = 0; i < m; ++i) {
      double squared = 0;
      for (auto& v : direction) {
        v = rng.normal();
        squared += v * v;
      }
      const double length = rng.uniform(spec.min_length, spec.max_length);
      const double scale = length / std::sqrt(squared);
      float* token = data.x.data() + (static_cast<long>(n) * m + i) * d;
      double stored = 0;
      for (int k = 0; k < d; ++k) {
        token[k] = static_cast<float>(direction[k] * scale);
        stored += static_cast<double>(token[k]) * token[k];
      }
      squared_total += stored;
      longest = std::max(longest, std::sqrt(stored));
    }
    switch (spec.target) {
      case SyntheticTarget::norm: data.y[n] = static_cast<float>(std::sqrt(squared_total)); break;
      case SyntheticTarget::sqnorm: data.y[n] = static_cast<float>(squared_total); break;
      case SyntheticTarget::maxnorm: data.y[n] = static_cast<float>(longest); break;
    }
  }
  return data;
}

double variance(const Buffer<float>& y) {
  if (y.size() == 0) return 0;
  double mean = 0;
  for (float v : y) mean += v;
  mean /= static_cast<double>(y.size());
  double total = 0;
  for (float v : y) total += (v - mean) * (v - mean);
  return total / static_cast<double>(y.size());
}

}  // namespace softmoe
