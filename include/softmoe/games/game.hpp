#pragma once
// MinAtar's games (Young & Tian 2019), written from their rules (see docs in games/README.md), and the
// environment wrapper around them. A state is 10 x 10 x C cells, bytes 0 or 1, indexed [y][x][c].
// Actions are always 0..5 = no-op, left, up, right, down, fire.
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "softmoe/games/numpy_random.hpp"
#include "softmoe/names.hpp"

namespace softmoe {

enum class GameKind { breakout, space_invaders, freeway, asterix };
inline constexpr EnumName<GameKind> kGameNames[] = {{GameKind::breakout, "breakout"},
                                                    {GameKind::space_invaders, "space_invaders"},
                                                    {GameKind::freeway, "freeway"},
                                                    {GameKind::asterix, "asterix"}};
inline const char* to_string(GameKind value) { return name_of(value, kGameNames); }
// throws std::invalid_argument naming the known games
inline GameKind parse_game(const std::string& name) { return value_named(name, kGameNames, "game"); }

enum Action { kNoop = 0, kLeft = 1, kUp = 2, kRight = 3, kDown = 4, kFire = 5 };
inline constexpr int kActions = 6;
inline constexpr int kGridSize = 10;

struct StepResult {
  int reward = 0;
  bool terminal = false;
};

// One game's rules. Draws come from the stream the caller passes (the environment's).
class Game {
 public:
  virtual ~Game() = default;
  virtual int channels() const = 0;
  virtual void reset(NumpyRandom& random) = 0;
  // One step with action 0..5; the caller never steps a game that has ended.
  virtual StepResult step(int action, NumpyRandom& random) = 0;
  // state [10, 10, channels()], every byte written
  virtual void render(std::uint8_t* state) const = 0;
  // Everything that decides the future, as integers (checkpoints); load() throws std::invalid_argument
  // on a vector save() could not have written.
  virtual std::vector<std::int32_t> save() const = 0;
  virtual void load(const std::vector<std::int32_t>& values) = 0;
};

std::unique_ptr<Game> make_game(GameKind kind, bool difficulty_ramping);

// MinAtar's Environment: sticky actions drawn on every act() (also after the end), one random stream
// shared by the wrapper and the game, and last_action kept across resets.
class Environment {
 public:
  Environment(GameKind kind, std::uint32_t seed, double sticky_action_prob = 0.1, bool difficulty_ramping = true);

  void reset();
  // The chosen action (0..5), replaced by the previous one with probability sticky_action_prob.
  // After the end of an episode: reward 0, terminal, nothing changes.
  StepResult act(int action);
  void render(std::uint8_t* state) const { game_->render(state); }

  GameKind kind() const { return kind_; }
  int channels() const { return game_->channels(); }
  std::size_t state_size() const { return static_cast<std::size_t>(kGridSize * kGridSize * channels()); }
  bool ended() const { return ended_; }

  // The environment's whole state (game, stream, last action) for checkpoints.
  struct Snapshot {
    std::vector<std::int32_t> game;
    std::string random;
    std::int32_t last_action = 0;
    bool ended = false;
  };
  Snapshot snapshot() const;
  void restore(const Snapshot& snapshot);  // std::invalid_argument on a snapshot of another game

 private:
  GameKind kind_;
  double sticky_;
  std::unique_ptr<Game> game_;
  NumpyRandom random_;
  int last_action_ = 0;
  bool ended_ = false;
};

// 64-bit FNV-1a of `bytes` bytes, the reference trajectories' state hash.
std::uint64_t fnv1a64(const std::uint8_t* data, std::size_t bytes);

}  // namespace softmoe
