#include "commands.hpp"

namespace softmoe::cli {

CLI::App* add_rl_replay_command(CLI::App* rl, RlReplayConfig& c) {
  auto* cmd = rl->add_subcommand(
      "replay",
      "Plays a MinAtar game from reset() with a seed and a file of chosen actions, printing one line per reset "
      "('R t episode - - - hash') and per step ('S t episode action reward terminal hash'), the reference "
      "trajectories' format (hash: 64-bit FNV-1a of the 10x10xC state bytes, [y][x][c]). After a terminal step the "
      "game is reset. Diff it against a reference file without its state_hex column to find the first wrong step.");
  cmd->add_option("--game", c.game, "Game")->transform(enum_names(kGameNames))->required();
  cmd->add_option("--seed", c.seed, "Seed of the environment's random stream (numpy RandomState)")->capture_default_str();
  cmd->add_option("--actions", c.actions, "File of chosen actions 0..5 (no-op, left, up, right, down, fire), one per line")
      ->required();
  cmd->add_option("--sticky", c.sticky, "Probability that an action is replaced by the previous one")->capture_default_str();
  cmd->add_option("--ramping", c.ramping, "Difficulty ramping (Space Invaders, Asterix)")
      ->transform(on_off())
      ->default_str("on");
  cmd->add_flag("--states", c.states, "Also print each state as hex (bits packed most significant first)");
  return cmd;
}

}  // namespace softmoe::cli
