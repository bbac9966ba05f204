#pragma once
// Deterministic random numbers: xoshiro256** seeded through splitmix64 from (seed, stream), so that
// every purpose (initialisation, data, selection) has its own generator and results do not depend on
// the standard library's distributions.
#include <cstdint>
#include <utility>

namespace softmoe {

enum class Stream : std::uint64_t { init = 1, data = 2, test_data = 3, shuffle = 4, selection = 5, router_noise = 6, subset = 7 };

class Rng {
 public:
  Rng(std::uint64_t seed, Stream stream);

  std::uint64_t next_u64();
  double uniform();                         // [0, 1)
  double uniform(double low, double high);  // [low, high)
  double normal();                          // standard normal (Box-Muller)
  std::uint64_t below(std::uint64_t n);     // uniform integer in [0, n), n > 0

  template <class It>
  void shuffle(It first, It last) {  // Fisher-Yates
    for (auto i = last - first; i > 1; --i) std::swap(first[i - 1], first[below(i)]);
  }

 private:
  std::uint64_t s_[4];
};

}  // namespace softmoe
