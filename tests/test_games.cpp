// The MinAtar games beyond what the reference trajectories cover (tests/cli/test_rl_replay.sh replays
// those): numpy's random stream, the Breakout brick refill, and checkpoint snapshots of every game.
#include <doctest/doctest.h>

#include <cstdint>
#include <stdexcept>
#include <vector>

#include "softmoe/games/game.hpp"
#include "softmoe/games/numpy_random.hpp"

using namespace softmoe;

TEST_CASE("NumpyRandom reproduces numpy's legacy RandomState") {
  NumpyRandom random(0);  // numpy: RandomState(0).rand(3)
  CHECK(random.rand() == 0.5488135039273248);
  CHECK(random.rand() == 0.7151893663724195);
  CHECK(random.rand() == 0.6027633760716439);
  NumpyRandom ints(0);  // numpy: RandomState(0).randint(0, 10, 10)
  const std::vector<std::int64_t> expected{5, 0, 3, 3, 7, 9, 3, 5, 2, 4};
  for (std::int64_t value : expected) CHECK(ints.randint(10) == value);
  NumpyRandom single(3);
  const std::string before = single.state();
  CHECK(single.randint(4, 5) == 4);  // a range of one value draws nothing
  CHECK(single.state() == before);
  CHECK_THROWS_AS(single.randint(5, 5), std::invalid_argument);
}

TEST_CASE("NumpyRandom's state round-trips and refuses junk") {
  NumpyRandom a(42);
  a.rand();
  NumpyRandom b;
  b.set_state(a.state());
  for (int i = 0; i < 100; ++i) CHECK(a.rand() == b.rand());
  CHECK_THROWS_AS(b.set_state("1 2 3"), std::invalid_argument);
  CHECK_THROWS_AS(b.set_state(a.state() + " 7"), std::invalid_argument);
}

namespace {

// The Breakout state save() writes: ball x, y, direction, paddle, strike, trail x, y, then 100 bricks.
std::vector<std::int32_t> breakout_state(int ball_x, int ball_y, int dir, int paddle, const std::vector<int>& bricks) {
  std::vector<std::int32_t> state{ball_x, ball_y, dir, paddle, 0, ball_x, ball_y};
  state.resize(7 + 100, 0);
  for (int cell : bricks) state[static_cast<std::size_t>(7 + cell)] = 1;
  return state;
}

int bricks_in(const std::vector<std::uint8_t>& state) {
  int count = 0;
  for (std::size_t i = 3; i < state.size(); i += 4) count += state[i];
  return count;
}

}  // namespace

TEST_CASE("Breakout refills the bricks when the ball reaches the paddle row with none left") {
  auto game = make_game(GameKind::breakout, true);
  NumpyRandom random(0);
  game->reset(random);
  std::vector<std::uint8_t> state(400);
  // The last brick, at (x 5, y 2): the ball at (4, 3) moving up-right hits it.
  game->load(breakout_state(4, 3, 1, 4, {2 * 10 + 5}));
  StepResult hit = game->step(kNoop, random);
  CHECK(hit.reward == 1);
  CHECK_FALSE(hit.terminal);
  game->render(state.data());
  CHECK(bricks_in(state) == 0);
  // No bricks left: the ball falls towards the paddle; on reaching row 9 rows 1-3 are refilled.
  bool refilled = false;
  for (int step = 0; step < 20 && !refilled; ++step) {
    // the paddle follows the ball so that the episode does not end
    const std::vector<std::int32_t> saved = game->save();
    const int ball_x = saved[0], paddle = saved[3];
    const StepResult result = game->step(ball_x > paddle ? kRight : ball_x < paddle ? kLeft : kNoop, random);
    REQUIRE_FALSE(result.terminal);
    game->render(state.data());
    refilled = bricks_in(state) > 0;
  }
  REQUIRE(refilled);
  CHECK(bricks_in(state) == 30);
  for (int y = 1; y <= 3; ++y)
    for (int x = 0; x < 10; ++x) CHECK(state[static_cast<std::size_t>((y * 10 + x) * 4 + 3)] == 1);
  const std::vector<std::int32_t> after = game->save();
  CHECK(after[1] == 8);  // the ball bounced off the paddle and stays above row 9
}

TEST_CASE("Breakout without a brick left ends when the ball misses the paddle, refill or not") {
  auto game = make_game(GameKind::breakout, true);
  NumpyRandom random(0);
  game->load(breakout_state(0, 8, 2, 9, {}));
  const StepResult result = game->step(kNoop, random);
  CHECK(result.terminal);
}

TEST_CASE("every game's snapshot restores the same future") {
  for (const auto& entry : kGameNames) {
    const std::string game = entry.name;
    CAPTURE(game);
    Environment env(entry.value, 7);
    env.reset();
    NumpyRandom policy(99);
    auto play = [&](int steps) {
      std::vector<std::uint64_t> hashes;
      std::vector<std::uint8_t> state(env.state_size());
      for (int i = 0; i < steps; ++i) {
        const StepResult result = env.act(static_cast<int>(policy.randint(6)));
        env.render(state.data());
        hashes.push_back(fnv1a64(state.data(), state.size()) ^ static_cast<std::uint64_t>(result.reward));
        if (result.terminal) env.reset();
      }
      return hashes;
    };
    play(700);
    const Environment::Snapshot snapshot = env.snapshot();
    const std::string policy_state = policy.state();
    const std::vector<std::uint64_t> first = play(300);
    Environment other(entry.value, 1234);
    other.restore(snapshot);
    std::swap(env, other);
    policy.set_state(policy_state);
    CHECK(play(300) == first);
  }
}

TEST_CASE("a snapshot of another game, or out of range, is refused") {
  Environment breakout(GameKind::breakout, 0), freeway(GameKind::freeway, 0);
  breakout.reset();
  freeway.reset();
  CHECK_THROWS_AS(freeway.restore(breakout.snapshot()), std::invalid_argument);
  Environment::Snapshot bad = breakout.snapshot();
  bad.game[0] = 10;  // ball x outside the grid
  CHECK_THROWS_AS(breakout.restore(bad), std::invalid_argument);
  bad = breakout.snapshot();
  bad.last_action = 6;
  CHECK_THROWS_AS(breakout.restore(bad), std::invalid_argument);
}

TEST_CASE("FNV-1a 64 matches its published test vectors") {
  CHECK(fnv1a64(nullptr, 0) == 0xcbf29ce484222325ULL);
  const std::uint8_t a[] = {'a'};
  CHECK(fnv1a64(a, 1) == 0xaf63dc4c8601ec8cULL);
}
