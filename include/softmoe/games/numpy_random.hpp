#pragma once
// numpy's legacy RandomState (Mersenne Twister MT19937), the random stream MinAtar's games draw from, so
// that softmoe's games replay the original's trajectories draw for draw:
//   rand()           a = mt >> 5, b = mt >> 6: (a 2^26 + b) / 2^53, in [0, 1)
//   randint(lo, hi)  masked rejection on 32-bit draws; hi - lo == 1 returns lo without a draw
#include <cstdint>
#include <random>
#include <string>

namespace softmoe {

class NumpyRandom {
 public:
  explicit NumpyRandom(std::uint32_t seed = 0) : mt_(seed) {}

  double rand();
  std::int64_t randint(std::int64_t lo, std::int64_t hi);  // [lo, hi), hi - lo in [1, 2^32]
  std::int64_t randint(std::int64_t hi) { return randint(0, hi); }

  // The generator's whole state as text (std::mt19937's stream format), for checkpoints.
  std::string state() const;
  // Throws std::invalid_argument when `text` is not a state written by state().
  void set_state(const std::string& text);

 private:
  std::mt19937 mt_;
};

}  // namespace softmoe
