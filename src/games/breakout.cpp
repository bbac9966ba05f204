// Breakout: channels paddle 0, ball 1, trail 2, brick 3. A paddle on row 9, bricks on rows 1-3 (refilled
// when the ball reaches row 9 with none left), +1 per brick; the episode ends when the ball passes the
// paddle. Directions 0..3 move the ball by (dx, dy) = (-1, -1), (+1, -1), (+1, +1), (-1, +1).
#include <cstring>

#include "games_internal.hpp"

namespace softmoe {
namespace {

constexpr int kDx[4] = {-1, 1, 1, -1}, kDy[4] = {-1, -1, 1, 1};
constexpr int kBounceSide[4] = {1, 0, 3, 2};      // off a side wall
constexpr int kBounceVertical[4] = {3, 2, 1, 0};  // off the top, a brick, or the paddle's centre
constexpr int kBouncePaddleEdge[4] = {2, 3, 0, 1};

class Breakout final : public Game {
 public:
  int channels() const override { return 4; }

  void reset(NumpyRandom& random) override {
    ball_y_ = 3;
    const bool from_right = random.randint(2) == 1;
    ball_x_ = from_right ? 9 : 0;
    dir_ = from_right ? 3 : 2;
    paddle_ = 4;
    std::memset(bricks_, 0, sizeof bricks_);
    fill_bricks();
    strike_ = false;
    last_x_ = ball_x_, last_y_ = ball_y_;
  }

  StepResult step(int action, NumpyRandom&) override {
    StepResult result;
    if (action == kLeft) paddle_ = clamp_cell(paddle_ - 1);
    if (action == kRight) paddle_ = clamp_cell(paddle_ + 1);
    last_x_ = ball_x_, last_y_ = ball_y_;
    int x = ball_x_ + kDx[dir_], y = ball_y_ + kDy[dir_];
    if (x < 0 || x > 9) {
      x = clamp_cell(x);
      dir_ = kBounceSide[dir_];
    }
    bool striking = false;
    if (y < 0) {
      y = 0;
      dir_ = kBounceVertical[dir_];
    } else if (bricks_[y][x]) {
      striking = true;
      if (!strike_) {
        result.reward = 1;
        strike_ = true;
        bricks_[y][x] = 0;
        y = last_y_;
        dir_ = kBounceVertical[dir_];
      }
    } else if (y == 9) {
      if (no_bricks()) fill_bricks();
      if (ball_x_ == paddle_) {
        dir_ = kBounceVertical[dir_];
        y = last_y_;
      } else if (x == paddle_) {
        dir_ = kBouncePaddleEdge[dir_];
        y = last_y_;
      } else {
        result.terminal = true;
      }
    }
    if (!striking) strike_ = false;
    ball_x_ = x, ball_y_ = y;
    return result;
  }

  void render(std::uint8_t* state) const override {
    std::memset(state, 0, 10 * 10 * 4);
    auto cell = [&](int y, int x, int c) -> std::uint8_t& { return state[(y * 10 + x) * 4 + c]; };
    cell(9, paddle_, 0) = 1;
    cell(ball_y_, ball_x_, 1) = 1;
    cell(last_y_, last_x_, 2) = 1;
    for (int y = 0; y < 10; ++y)
      for (int x = 0; x < 10; ++x)
        if (bricks_[y][x]) cell(y, x, 3) = 1;
  }

  std::vector<std::int32_t> save() const override {
    std::vector<std::int32_t> out{ball_x_, ball_y_, dir_, paddle_, strike_, last_x_, last_y_};
    save_grid(out, bricks_);
    return out;
  }

  void load(const std::vector<std::int32_t>& values) override {
    SavedValues in(values, 7 + 100);
    ball_x_ = in.next(0, 9), ball_y_ = in.next(0, 9), dir_ = in.next(0, 3), paddle_ = in.next(0, 9);
    strike_ = in.flag();
    last_x_ = in.next(0, 9), last_y_ = in.next(0, 9);
    load_grid(in, bricks_);
  }

 private:
  void fill_bricks() {
    for (int y = 1; y <= 3; ++y)
      for (int x = 0; x < 10; ++x) bricks_[y][x] = 1;
  }
  bool no_bricks() const {
    for (const auto& row : bricks_)
      for (std::uint8_t cell : row)
        if (cell) return false;
    return true;
  }

  int ball_x_ = 0, ball_y_ = 3, dir_ = 2, paddle_ = 4;
  bool strike_ = false;
  int last_x_ = 0, last_y_ = 3;
  Grid bricks_{};
};

}  // namespace

std::unique_ptr<Game> make_breakout() { return std::make_unique<Breakout>(); }

}  // namespace softmoe
