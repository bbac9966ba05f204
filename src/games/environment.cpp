#include <stdexcept>

#include "games_internal.hpp"
#include "softmoe/games/game.hpp"

namespace softmoe {

std::unique_ptr<Game> make_game(GameKind kind, bool difficulty_ramping) {
  switch (kind) {
    case GameKind::breakout: return make_breakout();
    case GameKind::space_invaders: return make_space_invaders(difficulty_ramping);
    case GameKind::freeway: return make_freeway();
    case GameKind::asterix: return make_asterix(difficulty_ramping);
  }
  throw std::invalid_argument("unknown game");
}

Environment::Environment(GameKind kind, std::uint32_t seed, double sticky_action_prob, bool difficulty_ramping)
    : kind_(kind), sticky_(sticky_action_prob), game_(make_game(kind, difficulty_ramping)), random_(seed) {}

void Environment::reset() {
  game_->reset(random_);
  ended_ = false;
}

StepResult Environment::act(int action) {
  if (action < 0 || action >= kActions) throw std::invalid_argument("action outside 0..5");
  if (random_.rand() < sticky_) action = last_action_;
  last_action_ = action;
  if (ended_) return {0, true};
  const StepResult result = game_->step(action, random_);
  ended_ = result.terminal;
  return result;
}

Environment::Snapshot Environment::snapshot() const { return {game_->save(), random_.state(), last_action_, ended_}; }

void Environment::restore(const Snapshot& snapshot) {
  if (snapshot.last_action < 0 || snapshot.last_action >= kActions)
    throw std::invalid_argument("last action outside 0..5");
  game_->load(snapshot.game);
  random_.set_state(snapshot.random);
  last_action_ = snapshot.last_action;
  ended_ = snapshot.ended;
}

std::uint64_t fnv1a64(const std::uint8_t* data, std::size_t bytes) {
  std::uint64_t hash = 0xcbf29ce484222325ULL;
  for (std::size_t i = 0; i < bytes; ++i) hash = (hash ^ data[i]) * 0x100000001b3ULL;
  return hash;
}

}  // namespace softmoe
