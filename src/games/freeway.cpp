// Freeway: channels chicken 0, car 1, and a car's trail in channel 1 + |speed| (speeds 1..5: channels
// 2-6). The chicken crosses eight lanes of cars (rows 1-8) from row 9 to row 0 for +1; a car sends it
// back to row 9. Episodes last exactly 2501 steps.
#include <cstdlib>
#include <cstring>

#include "games_internal.hpp"

namespace softmoe {
namespace {

constexpr int kPlayerSpeed = 3, kTimeLimit = 2500, kCars = 8, kChickenColumn = 4;

struct Car {
  int x, y, timer, speed;  // speed: -5..5 without 0; the car moves every |speed| + 1 steps
};

class Freeway final : public Game {
 public:
  int channels() const override { return 7; }

  void reset(NumpyRandom& random) override {
    randomize_cars(random, true);
    chicken_ = 9;
    move_timer_ = kPlayerSpeed;
    terminate_timer_ = kTimeLimit;
  }

  StepResult step(int action, NumpyRandom& random) override {
    StepResult result;
    if ((action == kUp || action == kDown) && move_timer_ == 0) {
      move_timer_ = kPlayerSpeed;
      chicken_ = clamp_cell(chicken_ + (action == kUp ? -1 : 1));
    }
    if (chicken_ == 0) {
      result.reward = 1;
      randomize_cars(random, false);
      chicken_ = 9;
    }
    for (Car& car : cars_) {
      if (car.x == kChickenColumn && car.y == chicken_) chicken_ = 9;
      if (car.timer == 0) {
        car.timer = std::abs(car.speed);
        car.x += car.speed > 0 ? 1 : -1;
        if (car.x < 0) car.x = 9;
        if (car.x > 9) car.x = 0;
        if (car.x == kChickenColumn && car.y == chicken_) chicken_ = 9;
      } else {
        --car.timer;
      }
    }
    if (move_timer_ > 0) --move_timer_;
    if (--terminate_timer_ < 0) result.terminal = true;
    return result;
  }

  void render(std::uint8_t* state) const override {
    std::memset(state, 0, 10 * 10 * 7);
    auto cell = [&](int y, int x, int c) -> std::uint8_t& { return state[(y * 10 + x) * 7 + c]; };
    cell(chicken_, kChickenColumn, 0) = 1;
    for (const Car& car : cars_) {
      cell(car.y, car.x, 1) = 1;
      int back = car.x + (car.speed > 0 ? -1 : 1);
      if (back < 0) back = 9;
      if (back > 9) back = 0;
      cell(car.y, back, 1 + std::abs(car.speed)) = 1;
    }
  }

  std::vector<std::int32_t> save() const override {
    std::vector<std::int32_t> out{chicken_, move_timer_, terminate_timer_};
    for (const Car& car : cars_) out.insert(out.end(), {car.x, car.y, car.timer, car.speed});
    return out;
  }

  void load(const std::vector<std::int32_t>& values) override {
    SavedValues in(values, 3 + 4 * kCars);
    chicken_ = in.next(0, 9), move_timer_ = in.next(0, kPlayerSpeed), terminate_timer_ = in.next(-1, kTimeLimit);
    for (Car& car : cars_) {
      car.x = in.next(0, 9), car.y = in.next(1, 8), car.timer = in.next(0, 5), car.speed = in.next(-5, 5);
      if (car.speed == 0) throw std::invalid_argument("saved game holds a value out of range");
    }
  }

 private:
  // Eight speeds 1..5, then eight directions; each car's timer restarts. A new game also puts every car at
  // x = 0.
  void randomize_cars(NumpyRandom& random, bool initialize) {
    int speeds[kCars];
    for (int& speed : speeds) speed = static_cast<int>(random.randint(1, 6));
    for (int& speed : speeds) speed *= random.rand() - 0.5 < 0 ? -1 : 1;
    for (int i = 0; i < kCars; ++i) {
      if (initialize) cars_[i] = {0, i + 1, std::abs(speeds[i]), speeds[i]};
      else cars_[i].timer = std::abs(speeds[i]), cars_[i].speed = speeds[i];
    }
  }

  Car cars_[kCars]{};
  int chicken_ = 9, move_timer_ = kPlayerSpeed, terminate_timer_ = kTimeLimit;
};

}  // namespace

std::unique_ptr<Game> make_freeway() { return std::make_unique<Freeway>(); }

}  // namespace softmoe
