// softmoe: parse the command line into one subcommand's config, run it, map failures to exit codes:
// 2 for a bad command line, 1 for a failure at run time; one line on stderr either way.
#include <exception>
#include <iostream>

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include "commands.hpp"
#include "softmoe/errors.hpp"

int main(int argc, char** argv) {
  using namespace softmoe;
  CLI::App app{"softmoe: Soft Mixture of Experts experiments on the CPU, results as CSV.", "softmoe"};
  app.require_subcommand(1);
  app.set_version_flag("--version", SOFTMOE_VERSION);
  app.get_formatter()->column_width(30);

  SyntheticConfig synthetic;
  CLI::App* synthetic_cmd = cli::add_synthetic_command(app, synthetic);
  TrainConfig train;
  CLI::App* train_cmd = cli::add_train_command(app, train);
  SpecializeConfig specialize;
  CLI::App* specialize_cmd = cli::add_specialize_command(app, specialize);
  AnalyzeConfig analyze;
  CLI::App* analyze_cmd = cli::add_analyze_command(app, analyze);
  CLI::App* rl_cmd = app.add_subcommand("rl", "Reinforcement learning on MinAtar games written in C++.");
  rl_cmd->require_subcommand(1);
  RlReplayConfig rl_replay;
  CLI::App* rl_replay_cmd = cli::add_rl_replay_command(rl_cmd, rl_replay);
  SweepConfig sweep;
  SweepMergeConfig sweep_merge;
  CLI::App* sweep_merge_cmd = nullptr;
  CLI::App* sweep_cmd = cli::add_sweep_command(app, sweep, sweep_merge, &sweep_merge_cmd);
  sweep.invocation.assign(argv, argv + argc);
  train.invocation.assign(argv, argv + argc);

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == static_cast<int>(CLI::ExitCodes::Success)) return app.exit(e);
    fmt::print(stderr, "softmoe: {} (see softmoe --help)\n", e.what());
    return 2;
  }

  try {
    if (synthetic_cmd->parsed()) return (run_synthetic(synthetic), 0);
    if (train_cmd->parsed()) return (run_train(train), 0);
    if (specialize_cmd->parsed()) return (run_specialize(specialize), 0);
    if (analyze_cmd->parsed()) return (run_analyze(analyze), 0);
    if (rl_replay_cmd->parsed()) return (validate(rl_replay), run_rl_replay(rl_replay, std::cout), 0);
    if (sweep_merge_cmd->parsed()) return run_sweep_merge(sweep_merge);
    if (sweep_cmd->parsed()) return run_sweep(sweep);
  } catch (const UsageError& e) {
    fmt::print(stderr, "softmoe: {}\n", e.what());
    return 2;
  } catch (const RunError& e) {
    fmt::print(stderr, "softmoe: {}\n", e.what());
    return 1;
  } catch (const std::bad_alloc&) {
    fmt::print(stderr, "softmoe: out of memory (try fewer experts, a smaller --batch or smaller data)\n");
    return 1;
  } catch (const std::exception& e) {
    fmt::print(stderr, "softmoe: internal error: {}\n", e.what());
    return 1;
  }
  return 2;
}
