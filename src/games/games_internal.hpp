#pragma once
// The games' factories (one source file per game) and what their save()/load() share.
#include <cstdint>
#include <memory>
#include <stdexcept>
#include <vector>

#include "softmoe/games/game.hpp"

namespace softmoe {

std::unique_ptr<Game> make_breakout();
std::unique_ptr<Game> make_space_invaders(bool difficulty_ramping);
std::unique_ptr<Game> make_freeway();
std::unique_ptr<Game> make_asterix(bool difficulty_ramping);

// Reads a saved game's integers in order, each checked against its range.
class SavedValues {
 public:
  SavedValues(const std::vector<std::int32_t>& values, std::size_t expected_size) : values_(values) {
    if (values.size() != expected_size) throw std::invalid_argument("saved game has the wrong size");
  }
  int next(int low, int high) {
    const std::int32_t value = values_[at_++];
    if (value < low || value > high) throw std::invalid_argument("saved game holds a value out of range");
    return value;
  }
  bool flag() { return next(0, 1) != 0; }

 private:
  const std::vector<std::int32_t>& values_;
  std::size_t at_ = 0;
};

using Grid = std::uint8_t[kGridSize][kGridSize];  // [y][x]

inline void save_grid(std::vector<std::int32_t>& out, const Grid& grid) {
  for (const auto& row : grid)
    for (std::uint8_t cell : row) out.push_back(cell);
}
inline void load_grid(SavedValues& in, Grid& grid) {
  for (auto& row : grid)
    for (std::uint8_t& cell : row) cell = static_cast<std::uint8_t>(in.flag());
}

inline int clamp_cell(int v) { return v < 0 ? 0 : v > kGridSize - 1 ? kGridSize - 1 : v; }

}  // namespace softmoe
