// Asterix: channels player 0, enemy 1, trail 2, gold 3. Enemies and gold cross eight lanes (rows 1-8)
// from either side; gold is +1, an enemy ends the episode. With difficulty ramping, every 101 steps
// things spawn faster and, every other time, move faster.
#include <cstring>

#include "games_internal.hpp"

namespace softmoe {
namespace {

constexpr int kRampInterval = 100, kInitialSpawnSpeed = 10, kInitialMoveSpeed = 5, kLanes = 8;

struct Entity {
  bool present = false;
  int x = 0, y = 0;
  bool rightward = false, gold = false;
};

class Asterix final : public Game {
 public:
  explicit Asterix(bool ramping) : ramping_(ramping) {}
  int channels() const override { return 4; }

  void reset(NumpyRandom&) override {
    player_x_ = player_y_ = 5;
    for (Entity& e : entities_) e = Entity{};
    spawn_speed_ = spawn_timer_ = kInitialSpawnSpeed;
    move_speed_ = move_timer_ = kInitialMoveSpeed;
    ramp_timer_ = kRampInterval;
    ramp_index_ = 0;
  }

  StepResult step(int action, NumpyRandom& random) override {
    StepResult result;
    if (spawn_timer_ == 0) {
      spawn(random);
      spawn_timer_ = spawn_speed_;
    }
    if (action == kLeft) player_x_ = clamp_cell(player_x_ - 1);
    if (action == kRight) player_x_ = clamp_cell(player_x_ + 1);
    if (action == kUp) player_y_ = std::max(1, player_y_ - 1);
    if (action == kDown) player_y_ = std::min(kLanes, player_y_ + 1);
    collide(result);
    if (move_timer_ == 0) {
      move_timer_ = move_speed_;
      for (Entity& e : entities_) {
        if (!e.present) continue;
        e.x += e.rightward ? 1 : -1;
        if (e.x < 0 || e.x > 9) e = Entity{};
      }
      collide(result);
    }
    --spawn_timer_;
    --move_timer_;
    if (ramping_ && (spawn_speed_ > 1 || move_speed_ > 1)) {
      if (ramp_timer_ >= 0) {
        --ramp_timer_;
      } else {
        if (move_speed_ > 1 && ramp_index_ % 2 == 1) --move_speed_;
        if (spawn_speed_ > 1) --spawn_speed_;
        ++ramp_index_;
        ramp_timer_ = kRampInterval;
      }
    }
    return result;
  }

  void render(std::uint8_t* state) const override {
    std::memset(state, 0, 10 * 10 * 4);
    auto cell = [&](int y, int x, int c) -> std::uint8_t& { return state[(y * 10 + x) * 4 + c]; };
    cell(player_y_, player_x_, 0) = 1;
    for (const Entity& e : entities_) {
      if (!e.present) continue;
      cell(e.y, e.x, e.gold ? 3 : 1) = 1;
      const int back = e.x + (e.rightward ? -1 : 1);
      if (back >= 0 && back <= 9) cell(e.y, back, 2) = 1;
    }
  }

  std::vector<std::int32_t> save() const override {
    std::vector<std::int32_t> out{player_x_, player_y_,  spawn_speed_, spawn_timer_,
                                  move_speed_, move_timer_, ramp_timer_, ramp_index_};
    for (const Entity& e : entities_) out.insert(out.end(), {e.present, e.x, e.y, e.rightward, e.gold});
    return out;
  }

  void load(const std::vector<std::int32_t>& values) override {
    SavedValues in(values, 8 + 5 * kLanes);
    player_x_ = in.next(0, 9), player_y_ = in.next(1, kLanes);
    spawn_speed_ = in.next(1, kInitialSpawnSpeed), spawn_timer_ = in.next(-1, kInitialSpawnSpeed);
    move_speed_ = in.next(1, kInitialMoveSpeed), move_timer_ = in.next(-1, kInitialMoveSpeed);
    ramp_timer_ = in.next(-1, kRampInterval), ramp_index_ = in.next(0, 1 << 30);
    for (Entity& e : entities_) {
      e.present = in.flag(), e.x = in.next(0, 9), e.y = in.next(0, kLanes);
      e.rightward = in.flag(), e.gold = in.flag();
    }
  }

 private:
  // Both draws happen even when every lane is taken.
  void spawn(NumpyRandom& random) {
    const bool rightward = random.rand() < 0.5;
    const bool gold = random.rand() < 1.0 / 3.0;
    int free_lanes[kLanes], free = 0;
    for (int lane = 0; lane < kLanes; ++lane)
      if (!entities_[lane].present) free_lanes[free++] = lane;
    if (free == 0) return;
    const int lane = free_lanes[random.randint(free)];
    entities_[lane] = Entity{true, rightward ? 0 : 9, lane + 1, rightward, gold};
  }

  void collide(StepResult& result) {
    for (Entity& e : entities_) {
      if (!e.present || e.x != player_x_ || e.y != player_y_) continue;
      if (e.gold) {
        e.present = false;
        ++result.reward;
      } else {
        result.terminal = true;
      }
    }
  }

  bool ramping_;
  int player_x_ = 5, player_y_ = 5;
  int spawn_speed_ = kInitialSpawnSpeed, spawn_timer_ = kInitialSpawnSpeed;
  int move_speed_ = kInitialMoveSpeed, move_timer_ = kInitialMoveSpeed;
  int ramp_timer_ = kRampInterval, ramp_index_ = 0;
  Entity entities_[kLanes];
};

}  // namespace

std::unique_ptr<Game> make_asterix(bool difficulty_ramping) { return std::make_unique<Asterix>(difficulty_ramping); }

}  // namespace softmoe
