#pragma once
// `softmoe rl replay`: plays a game from reset() with a seed and a file of chosen actions (one 0..5 per
// line, before the sticky substitution) and prints the reference trajectories' own line format:
//   R <t> <episode> - - - <fnv1a64>                         after every reset (t = steps so far)
//   S <t> <episode> <action> <reward> <terminal> <fnv1a64>  after every step
// so that `diff` against a reference file without its state_hex column shows the first wrong step.
#include <cstdint>
#include <iosfwd>
#include <string>

#include "softmoe/games/game.hpp"

namespace softmoe {

struct RlReplayConfig {
  GameKind game = GameKind::breakout;
  std::int64_t seed = 0;  // the environment's stream: numpy's RandomState(seed)
  std::string actions;    // file of chosen actions, one per line
  double sticky = 0.1;
  bool ramping = true;
  bool states = false;    // also print each state as hex (the reference files' state_hex column)
};

void validate(const RlReplayConfig& config);
// Writes the trajectory to `out`; RunError naming the file for an unreadable file or a bad action line.
void run_rl_replay(const RlReplayConfig& config, std::ostream& out);

}  // namespace softmoe
