#pragma once
// `softmoe analyze`: the routing statistics (eval/routing_stats.hpp) of every MoE layer of a trained run
// (any model, any router) on its test set, as a tidy CSV and a compact table on stdout.
#include <string>
#include <vector>

#include "softmoe/eval/routing_stats.hpp"

namespace softmoe {

struct AnalyzeConfig {
  std::string run;       // a `softmoe train` run directory
  std::string data_dir;  // empty: the run's own
  std::string out;       // empty: RUN/analyze.csv
  int batch = 1000;      // inputs per forward pass (a sparse router's run uses its training batch)
  int threads = 1;
  bool quiet = false;    // no table on stdout
};

void validate(const AnalyzeConfig& config);

struct LayerStatistics {
  int layer = 0, experts = 0;
  long inputs = 0;
  std::vector<RoutingStatistic> stats;
};

struct AnalyzeResult {
  std::string router;
  std::vector<LayerStatistics> layers;
  std::string out;
};

AnalyzeResult run_analyze(const AnalyzeConfig& config);

// The CSV both `analyze` and `train --log-routing` write, one row per (layer, statistic, k); k is empty
// for the statistics that have none. `leading` columns (e.g. epoch) come first, with their values.
std::vector<std::string> routing_csv_header(const std::vector<std::string>& leading);
std::string routing_csv_rows(const std::vector<std::string>& leading_values, const std::string& router,
                             const LayerStatistics& layer, int threads);

}  // namespace softmoe
