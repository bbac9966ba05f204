#include "softmoe/games/numpy_random.hpp"

#include <sstream>
#include <stdexcept>

namespace softmoe {

double NumpyRandom::rand() {
  const std::uint32_t a = mt_() >> 5, b = mt_() >> 6;
  return (a * 67108864.0 + b) / 9007199254740992.0;
}

std::int64_t NumpyRandom::randint(std::int64_t lo, std::int64_t hi) {
  const std::uint64_t range = static_cast<std::uint64_t>(hi - lo - 1);
  if (hi <= lo || range > 0xffffffffULL) throw std::invalid_argument("randint: range outside [1, 2^32]");
  if (range == 0) return lo;
  std::uint64_t mask = range;
  for (int shift = 1; shift < 64; shift <<= 1) mask |= mask >> shift;
  std::uint64_t value;
  do value = mt_() & mask;
  while (value > range);
  return lo + static_cast<std::int64_t>(value);
}

std::string NumpyRandom::state() const {
  std::ostringstream out;
  out << mt_;
  return out.str();
}

void NumpyRandom::set_state(const std::string& text) {
  std::istringstream in(text);
  std::mt19937 restored;
  in >> restored;
  if (in.fail()) throw std::invalid_argument("not a Mersenne Twister state");
  in >> std::ws;
  if (!in.eof()) throw std::invalid_argument("trailing characters after a Mersenne Twister state");
  mt_ = restored;
}

}  // namespace softmoe
