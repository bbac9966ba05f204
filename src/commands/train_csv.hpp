#pragma once
// train.csv of `softmoe train`: its columns for a run's settings, one epoch's row, and the rows read
// back from the text kept in the resume state.
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include "softmoe/commands/train.hpp"

namespace softmoe {

// epoch, train_loss, train_accuracy, test_loss, test_accuracy, train_seconds, eval_seconds,
// samples_per_second, threads, lr; then val_loss, val_accuracy (--val-size), fit_loss, fit_accuracy
// (--eval-train), and a sparse router's drop_rate, capacity_factor, tokens_per_expert_min/max, aux_loss.
std::vector<std::string> train_csv_header(const TrainConfig& config, bool routed);

// One row, newline included.
std::string epoch_csv_row(const EpochRow& row, int threads);

// The rows of train.csv text (the header first), by column name; RunError naming `source` when the
// header is not the one of these settings or a row is damaged. Runs written before train.csv had an
// lr column get lr_of_epoch(epoch).
std::vector<EpochRow> epoch_rows(const std::string& csv, const std::filesystem::path& source, const TrainConfig& config,
                                 bool routed, const std::function<double(int)>& lr_of_epoch);

}  // namespace softmoe
