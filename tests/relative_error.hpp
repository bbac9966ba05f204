#pragma once
// ||a - b|| / ||b|| (or ||a - b|| when b is zero): how far our values are from a reference fixture's.
#include <cmath>
#include <cstddef>
#include <vector>

namespace softmoe::test {

template <class T>
double relative_error(const T* a, const std::vector<double>& b) {
  double diff = 0, norm = 0;
  for (std::size_t i = 0; i < b.size(); ++i) {
    diff += (static_cast<double>(a[i]) - b[i]) * (static_cast<double>(a[i]) - b[i]);
    norm += b[i] * b[i];
  }
  return norm > 0 ? std::sqrt(diff / norm) : std::sqrt(diff);
}

}  // namespace softmoe::test
