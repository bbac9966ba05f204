#pragma once
// One function per subcommand: binds its CLI11 options to its config struct and returns the subcommand.
#include <CLI/CLI.hpp>

#include "softmoe/commands/synthetic.hpp"

namespace softmoe::cli {

CLI::App* add_synthetic_command(CLI::App& app, SyntheticConfig& config);

}  // namespace softmoe::cli
