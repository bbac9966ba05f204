#pragma once
// One function per subcommand: binds its CLI11 options to its config struct and returns the subcommand.
#include <map>
#include <string>

#include <CLI/CLI.hpp>

#include "softmoe/commands/analyze.hpp"
#include "softmoe/commands/rl_replay.hpp"
#include "softmoe/commands/specialize.hpp"
#include "softmoe/commands/sweep.hpp"
#include "softmoe/commands/synthetic.hpp"
#include "softmoe/commands/train.hpp"

namespace softmoe::cli {

// Parses an enumerated setting by its names (names.hpp): the option's value is the enum from here on.
// Anything else, numbers included, is refused naming the choices.
template <class E, std::size_t N>
CLI::Validator enum_names(const EnumName<E> (&table)[N]) {
  std::map<std::string, E> map;
  std::string names;
  for (const auto& entry : table) {
    map.emplace(entry.name, entry.value);
    names += (names.empty() ? "" : ", ") + std::string(entry.name);
  }
  return CLI::Validator(
      [map, names](std::string& input) -> std::string {
        const auto found = map.find(input);
        if (found == map.end()) return "'" + input + "' is not one of " + names;
        input = std::to_string(static_cast<long long>(found->second));  // CLI11 reads the enum from its number
        return {};
      },
      "{" + names + "}");
}

// on | off into a bool.
inline CLI::Validator on_off() {
  return CLI::Validator(
      [](std::string& input) -> std::string {
        if (input != "on" && input != "off") return "'" + input + "' is not one of on, off";
        input = input == "on" ? "1" : "0";
        return {};
      },
      "{on, off}");
}

CLI::App* add_synthetic_command(CLI::App& app, SyntheticConfig& config);
CLI::App* add_train_command(CLI::App& app, TrainConfig& config);
CLI::App* add_specialize_command(CLI::App& app, SpecializeConfig& config);
CLI::App* add_analyze_command(CLI::App& app, AnalyzeConfig& config);
// `rl replay`, a subcommand of `rl`.
CLI::App* add_rl_replay_command(CLI::App* rl, RlReplayConfig& config);
// The flags `train` and `sweep` share (model_options.cpp).
void add_vit_options(CLI::App* cmd, VitOptions& options);
void add_recipe_options(CLI::App* cmd, RecipeOptions& options);
void add_router_options(CLI::App* cmd, RouterOptions& options);

CLI::App* add_sweep_command(CLI::App& app, SweepConfig& config, SweepMergeConfig& merge, CLI::App** merge_cmd);

}  // namespace softmoe::cli
