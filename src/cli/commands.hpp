#pragma once
// One function per subcommand: binds its CLI11 options to its config struct and returns the subcommand.
#include <CLI/CLI.hpp>

#include "softmoe/commands/specialize.hpp"
#include "softmoe/commands/sweep.hpp"
#include "softmoe/commands/synthetic.hpp"
#include "softmoe/commands/train.hpp"

namespace softmoe::cli {

CLI::App* add_synthetic_command(CLI::App& app, SyntheticConfig& config);
CLI::App* add_train_command(CLI::App& app, TrainConfig& config);
CLI::App* add_specialize_command(CLI::App& app, SpecializeConfig& config);
// The flags `train` and `sweep` share (model_options.cpp).
void add_vit_options(CLI::App* cmd, VitOptions& options);
void add_recipe_options(CLI::App* cmd, RecipeOptions& options);

CLI::App* add_sweep_command(CLI::App& app, SweepConfig& config, SweepMergeConfig& merge, CLI::App** merge_cmd);

}  // namespace softmoe::cli
