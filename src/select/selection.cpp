#include "softmoe/select/selection.hpp"

#include <algorithm>
#include <functional>
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
  // Per input: the k-th largest score is the threshold; keep every score above it, then the scores equal
  // to it in index order until k are kept (the same set as a full sort by score, then index).
  if (k <= 0 || k >= n) {
    std::fill(keep, keep + static_cast<long>(B) * n, static_cast<std::uint8_t>(k > 0));
    return;
  }
  std::vector<float> sorted(static_cast<std::size_t>(n));
  for (int b = 0; b < B; ++b) {
    const float* score = scores + static_cast<long>(b) * n;
    std::copy(score, score + n, sorted.begin());
    std::nth_element(sorted.begin(), sorted.begin() + (k - 1), sorted.end(), std::greater<float>());
    const float threshold = sorted[k - 1];
    int ties = k - static_cast<int>(std::count_if(score, score + n, [&](float v) { return v > threshold; }));
    std::uint8_t* row = keep + static_cast<long>(b) * n;
    for (int e = 0; e < n; ++e) {
      const bool tie = score[e] == threshold && ties > 0;
      ties -= tie;
      row[e] = static_cast<std::uint8_t>(score[e] > threshold || tie);
    }
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
