#include "softmoe/layers/expert_selection.hpp"

#include <algorithm>
#include <cstring>
#include <numeric>
#include <vector>

#include "softmoe/kernels/parallel.hpp"
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

namespace {

// An unsigned key that orders like the float: a > b exactly when key(a) > key(b) (-0 and +0 are one key).
// Branch-free, so that a loop of them vectorises.
std::uint32_t order_key(float v) {
  std::uint32_t bits;
  std::memcpy(&bits, &v, sizeof bits);
  bits = bits == 0x80000000u ? 0u : bits;
  const std::uint32_t negative = 0u - (bits >> 31);
  return bits ^ (negative | 0x80000000u);
}

int count_at_least(const std::uint32_t* keys, int n, std::uint32_t bound) {
  int count = 0;
  for (int e = 0; e < n; ++e) count += keys[e] >= bound;
  return count;
}

}  // namespace

void keep_top_k(std::uint8_t* keep, const float* scores, int B, int n, int k) {
  // Per input: the k-th largest score is the threshold; keep every score above it, then the scores equal
  // to it in index order until k are kept (the same set as a full sort by score, then index).
  // The threshold's key is built bit by bit from the top: the largest key with at least k keys >= it,
  // or the first with exactly k.
  if (k <= 0 || k >= n) {
    std::fill(keep, keep + static_cast<long>(B) * n, static_cast<std::uint8_t>(k > 0));
    return;
  }
  kernels::parallel_for(B, 64, [&](long begin, long end) {
    std::vector<std::uint32_t> keys(static_cast<std::size_t>(n));
    for (long b = begin; b < end; ++b) {
      const float* score = scores + b * n;
      for (int e = 0; e < n; ++e) keys[e] = order_key(score[e]);
      std::uint32_t threshold = 0;
      for (int bit = 31; bit >= 0; --bit) {
        const std::uint32_t candidate = threshold | (1u << bit);
        const int at_least = count_at_least(keys.data(), n, candidate);
        if (at_least >= k) threshold = candidate;
        if (at_least == k) break;  // exactly the k largest are >= threshold: no tie to break
      }
      std::uint8_t* row = keep + b * n;
      if (count_at_least(keys.data(), n, threshold) == k) {  // no tie to break (the usual case)
        for (int e = 0; e < n; ++e) row[e] = static_cast<std::uint8_t>(keys[e] >= threshold);
        continue;
      }
      int ties = k - (threshold == ~0u ? 0 : count_at_least(keys.data(), n, threshold + 1));
      for (int e = 0; e < n; ++e) {
        const bool tie = keys[e] == threshold && ties > 0;
        ties -= tie;
        row[e] = static_cast<std::uint8_t>(keys[e] > threshold || tie);
      }
    }
  });
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
