#include "softmoe/commands/rl_replay.hpp"

#include <fstream>
#include <ostream>
#include <vector>

#include <fmt/format.h>

#include "softmoe/errors.hpp"

namespace softmoe {
namespace {

// The state's bits packed most significant first, zero-padded to whole bytes, in hex.
std::string state_hex(const std::vector<std::uint8_t>& state) {
  std::string hex;
  for (std::size_t i = 0; i < state.size(); i += 8) {
    unsigned byte = 0;
    for (std::size_t b = 0; b < 8; ++b) byte = byte << 1 | (i + b < state.size() ? state[i + b] : 0);
    hex += fmt::format("{:02x}", byte);
  }
  return hex;
}

}  // namespace

void validate(const RlReplayConfig& c) {
  if (c.seed < 0 || c.seed > 0xffffffffLL) throw UsageError(fmt::format("--seed {}: must be in 0..2^32-1", c.seed));
  if (!(c.sticky >= 0 && c.sticky <= 1)) throw UsageError(fmt::format("--sticky {}: must be in [0, 1]", c.sticky));
  if (c.actions.empty()) throw UsageError("--actions: a file of actions is required");
}

void run_rl_replay(const RlReplayConfig& c, std::ostream& out) {
  std::ifstream in(c.actions);
  if (!in) throw RunError(fmt::format("{}: cannot read", c.actions));
  Environment env(c.game, static_cast<std::uint32_t>(c.seed), c.sticky, c.ramping);
  std::vector<std::uint8_t> state(env.state_size());
  auto print_state = [&](const std::string& prefix) {
    env.render(state.data());
    out << prefix << fmt::format("{:016x}", fnv1a64(state.data(), state.size()));
    if (c.states) out << ' ' << state_hex(state);
    out << '\n';
  };
  long t = 0, episode = 0, line_number = 0;
  env.reset();
  print_state(fmt::format("R 0 0 - - - "));
  std::string line;
  while (std::getline(in, line)) {
    ++line_number;
    if (line.empty()) continue;
    if (line.size() != 1 || line[0] < '0' || line[0] > '5')
      throw RunError(fmt::format("{}:{}: '{}' is not an action 0..5", c.actions, line_number, line));
    const int action = line[0] - '0';
    const StepResult step = env.act(action);
    ++t;
    print_state(fmt::format("S {} {} {} {} {} ", t, episode, action, step.reward, step.terminal ? 1 : 0));
    if (step.terminal) {
      env.reset();
      ++episode;
      print_state(fmt::format("R {} {} - - - ", t, episode));
    }
  }
  if (in.bad()) throw RunError(fmt::format("{}: read error", c.actions));
}

}  // namespace softmoe
