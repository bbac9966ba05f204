#include "softmoe/select/selection.hpp"

#include <algorithm>
#include <numeric>
#include <vector>

#include "softmoe/rng.hpp"

namespace softmoe {

void expert_scores(float* scores, const float* combine, int B, int m, int n, int p) {
  const int S = n * p;
  for (int b = 0; b < B; ++b) {
    float* score = scores + static_cast<long>(b) * n;
    std::fill(score, score + n, 0.0f);
    for (int i = 0; i < m; ++i) {
      const float* c = combine + (static_cast<long>(b) * m + i) * S;
      for (int s = 0; s < S; ++s) score[s / p] += c[s];
    }
  }
}

void keep_top_k(std::uint8_t* keep, const float* scores, int B, int n, int k) {
  std::vector<int> order(static_cast<std::size_t>(n));
  for (int b = 0; b < B; ++b) {
    const float* score = scores + static_cast<long>(b) * n;
    std::iota(order.begin(), order.end(), 0);
    // A strict total order (score, then index), so the k kept are the same as a full sort would keep.
    if (k < n)
      std::nth_element(order.begin(), order.begin() + k, order.end(),
                       [&](int a, int c) { return score[a] > score[c] || (score[a] == score[c] && a < c); });
    std::uint8_t* row = keep + static_cast<long>(b) * n;
    std::fill(row, row + n, std::uint8_t{0});
    for (int j = 0; j < k; ++j) row[order[j]] = 1;
  }
}

void keep_random(std::uint8_t* keep, int B, int n, int k, Rng& rng) {
  std::vector<int> order(static_cast<std::size_t>(n));
  for (int b = 0; b < B; ++b) {
    std::iota(order.begin(), order.end(), 0);
    for (int j = 0; j < k; ++j) std::swap(order[j], order[j + rng.below(static_cast<std::uint64_t>(n - j))]);
    std::uint8_t* row = keep + static_cast<long>(b) * n;
    std::fill(row, row + n, std::uint8_t{0});
    for (int j = 0; j < k; ++j) row[order[j]] = 1;
  }
}

}  // namespace softmoe
