// Space Invaders: channels cannon 0, alien 1, alien moving left 2, alien moving right 3, friendly bullet 4,
// enemy bullet 5. A block of aliens (rows 0-3, columns 2-7) marches sideways and steps down at an edge;
// the alien nearest the cannon by column fires from the lowest alien of that column; +1 per alien hit.
// Each cleared wave respawns faster (move interval 12 down to 6) with difficulty ramping.
#include <cstdlib>
#include <cstring>

#include "games_internal.hpp"

namespace softmoe {
namespace {

constexpr int kShotCooldown = 5, kInitialMoveInterval = 12, kEnemyShotInterval = 10, kFastestMoveInterval = 6;

class SpaceInvaders final : public Game {
 public:
  explicit SpaceInvaders(bool ramping) : ramping_(ramping) {}
  int channels() const override { return 6; }

  void reset(NumpyRandom&) override {
    cannon_ = 5;
    std::memset(aliens_, 0, sizeof aliens_);
    std::memset(friendly_, 0, sizeof friendly_);
    std::memset(enemy_, 0, sizeof enemy_);
    spawn_aliens();
    alien_dir_ = -1;
    move_interval_ = kInitialMoveInterval;
    move_timer_ = move_interval_;
    enemy_shot_timer_ = kEnemyShotInterval;
    shot_timer_ = 0;
    ramp_index_ = 0;
  }

  StepResult step(int action, NumpyRandom&) override {
    StepResult result;
    if (action == kFire) {
      if (shot_timer_ == 0) {
        friendly_[9][cannon_] = 1;
        shot_timer_ = kShotCooldown;
      }
    } else if (action == kLeft) {
      cannon_ = clamp_cell(cannon_ - 1);
    } else if (action == kRight) {
      cannon_ = clamp_cell(cannon_ + 1);
    }
    shift_rows(friendly_, -1);
    shift_rows(enemy_, +1);
    if (enemy_[9][cannon_]) result.terminal = true;
    if (aliens_[9][cannon_]) result.terminal = true;

    if (move_timer_ == 0) {
      move_timer_ = std::min(alien_count(), move_interval_);
      if ((column_occupied(0) && alien_dir_ < 0) || (column_occupied(9) && alien_dir_ > 0)) {
        alien_dir_ = -alien_dir_;
        for (int x = 0; x < 10; ++x)
          if (aliens_[9][x]) result.terminal = true;
        roll_rows_down(aliens_);
      } else {
        roll_columns(aliens_, alien_dir_);
      }
      if (aliens_[9][cannon_]) result.terminal = true;
    }

    if (enemy_shot_timer_ == 0) {
      enemy_shot_timer_ = kEnemyShotInterval;
      const int column = nearest_alien_column();
      if (column >= 0)
        for (int y = 9; y >= 0; --y)
          if (aliens_[y][column]) {
            enemy_[y][column] = 1;
            break;
          }
    }

    for (int y = 0; y < 10; ++y)
      for (int x = 0; x < 10; ++x)
        if (aliens_[y][x] && friendly_[y][x]) {
          ++result.reward;
          aliens_[y][x] = friendly_[y][x] = 0;
        }

    if (shot_timer_ > 0) --shot_timer_;
    --move_timer_;
    --enemy_shot_timer_;
    if (alien_count() == 0) {
      if (ramping_ && move_interval_ > kFastestMoveInterval) {
        --move_interval_;
        ++ramp_index_;
      }
      spawn_aliens();
    }
    return result;
  }

  void render(std::uint8_t* state) const override {
    std::memset(state, 0, 10 * 10 * 6);
    for (int y = 0; y < 10; ++y)
      for (int x = 0; x < 10; ++x) {
        std::uint8_t* cell = state + (y * 10 + x) * 6;
        cell[0] = y == 9 && x == cannon_;
        cell[1] = aliens_[y][x];
        cell[2] = aliens_[y][x] && alien_dir_ < 0;
        cell[3] = aliens_[y][x] && alien_dir_ > 0;
        cell[4] = friendly_[y][x];
        cell[5] = enemy_[y][x];
      }
  }

  std::vector<std::int32_t> save() const override {
    std::vector<std::int32_t> out{cannon_, alien_dir_, move_interval_, move_timer_, enemy_shot_timer_, shot_timer_,
                                  ramp_index_};
    save_grid(out, aliens_);
    save_grid(out, friendly_);
    save_grid(out, enemy_);
    return out;
  }

  void load(const std::vector<std::int32_t>& values) override {
    SavedValues in(values, 7 + 300);
    cannon_ = in.next(0, 9);
    alien_dir_ = in.next(-1, 1);
    if (alien_dir_ == 0) throw std::invalid_argument("saved game holds a value out of range");
    move_interval_ = in.next(kFastestMoveInterval, kInitialMoveInterval);
    move_timer_ = in.next(-1, kInitialMoveInterval);
    enemy_shot_timer_ = in.next(-1, kEnemyShotInterval);
    shot_timer_ = in.next(0, kShotCooldown);
    ramp_index_ = in.next(0, 1 << 30);
    load_grid(in, aliens_);
    load_grid(in, friendly_);
    load_grid(in, enemy_);
  }

 private:
  void spawn_aliens() {
    for (int y = 0; y <= 3; ++y)
      for (int x = 2; x <= 7; ++x) aliens_[y][x] = 1;
  }
  int alien_count() const {
    int count = 0;
    for (const auto& row : aliens_)
      for (std::uint8_t cell : row) count += cell;
    return count;
  }
  bool column_occupied(int x) const {
    for (int y = 0; y < 10; ++y)
      if (aliens_[y][x]) return true;
    return false;
  }
  // The occupied column nearest the cannon; of two at the same distance, the lower index. -1 if none.
  int nearest_alien_column() const {
    for (int distance = 0; distance < 10; ++distance)
      for (int x : {cannon_ - distance, cannon_ + distance})
        if (x >= 0 && x < 10 && column_occupied(x)) return x;
    return -1;
  }
  // Moves every row by `by` (-1 up, +1 down); the row that enters is empty.
  static void shift_rows(Grid& grid, int by) {
    if (by < 0) {
      std::memmove(grid[0], grid[1], 9 * 10);
      std::memset(grid[9], 0, 10);
    } else {
      std::memmove(grid[1], grid[0], 9 * 10);
      std::memset(grid[0], 0, 10);
    }
  }
  static void roll_rows_down(Grid& grid) {  // row 9 wraps to row 0
    std::uint8_t last[10];
    std::memcpy(last, grid[9], 10);
    std::memmove(grid[1], grid[0], 9 * 10);
    std::memcpy(grid[0], last, 10);
  }
  static void roll_columns(Grid& grid, int by) {  // wraps
    for (auto& row : grid) {
      std::uint8_t copy[10];
      std::memcpy(copy, row, 10);
      for (int x = 0; x < 10; ++x) row[((x + by) % 10 + 10) % 10] = copy[x];
    }
  }

  bool ramping_;
  int cannon_ = 5, alien_dir_ = -1, move_interval_ = kInitialMoveInterval, move_timer_ = kInitialMoveInterval;
  int enemy_shot_timer_ = kEnemyShotInterval, shot_timer_ = 0, ramp_index_ = 0;
  Grid aliens_{}, friendly_{}, enemy_{};
};

}  // namespace

std::unique_ptr<Game> make_space_invaders(bool difficulty_ramping) {
  return std::make_unique<SpaceInvaders>(difficulty_ramping);
}

}  // namespace softmoe
