#pragma once
// Shared between the sweep driver, its worker processes and merge.
#include <filesystem>
#include <vector>

#include "softmoe/commands/sweep.hpp"
#include "softmoe/commands/synthetic.hpp"
#include "softmoe/commands/train.hpp"

namespace softmoe {

// DIR/points/INDEX.csv, the journal entry of a finished point.
std::filesystem::path sweep_point_file(const std::filesystem::path& dir, const SweepPoint& point);

// The subcommand configurations a point runs with.
SyntheticConfig synthetic_point_config(const SweepConfig& config, const SweepPoint& point);
TrainConfig train_point_config(const SweepConfig& config, const SweepPoint& point, const std::filesystem::path& run_dir);

// Runs one point in this process and writes its journal entry.
void run_sweep_point(const SweepConfig& config, const SweepPoint& point, const std::filesystem::path& dir);

// The point files' rows under one header, in the order given (RunError if headers differ).
std::string concatenate_point_files(const std::vector<std::filesystem::path>& files);

}  // namespace softmoe
