#pragma once
// `softmoe sweep`: a grid of synthetic or train(+specialize) runs, reproducible, resumable and shardable.
// DIR/sweep.json   the resolved grid and settings (a different command on the same DIR is refused)
// DIR/points/      one CSV per finished point (the journal: a point with a file is never run again)
// DIR/runs/KEY/    the `softmoe train` run directory of each point (image tasks)
// DIR/results.csv  every point's rows in grid order, written when all points of the shard are done
// DIR/summary.csv  results.csv over seeds: mean, sd, 95% t-interval per setting, method, k and metric
#include <string>
#include <vector>

#include "softmoe/commands/train.hpp"
#include "softmoe/eval/subset_evaluator.hpp"
#include "softmoe/io/json.hpp"

namespace softmoe {

enum class SweepTask { mnist, fashion_mnist, synthetic };
inline constexpr EnumName<SweepTask> kSweepTaskNames[] = {
    {SweepTask::mnist, "mnist"}, {SweepTask::fashion_mnist, "fashion-mnist"}, {SweepTask::synthetic, "synthetic"}};
inline const char* to_string(SweepTask value) { return name_of(value, kSweepTaskNames); }

struct SweepConfig {
  SweepTask task = SweepTask::mnist;
  ModelKind model = ModelKind::paper_mnist;
  std::vector<int> experts{2, 4, 8, 16, 32, 64, 128, 256, 512};
  std::vector<long long> seeds{0};
  std::vector<double> lr;             // empty: the task's default
  std::vector<long> expert_params;    // synthetic: expert parameter budgets; empty: its default
  std::vector<int> expert_hidden;     // image tasks: expert widths; empty: the model's default
  std::vector<int> train_sizes;       // image tasks: `train --train-size` values; empty: all images
  int val_size = 0;                   // image tasks: `train --val-size`
  int epoch_updates = 0;              // image tasks: `train --epoch-updates`; 0: one pass per epoch
  bool eval_train = false;            // image tasks: `train --eval-train` (fit_loss, fit_accuracy columns)
  VitOptions vit;                     // --model vit: the architecture (as `train`)
  RecipeOptions recipe;               // image tasks: the training recipe (as `train`; unset: the model's)
  RouterOptions routing;              // paper-mnist: the router (as `train`)
  int epochs = 0;                     // 0: the task's default
  std::string specialize;             // image tasks: --k list for `specialize` after training; empty: none
  std::vector<SelectionMethod> methods{SelectionMethod::all, SelectionMethod::topk, SelectionMethod::random};
  int random_trials = 10;
  std::string data_dir;
  int threads = 1;
  int jobs = 1;
  std::string shard = "0/1";          // i/N: this process runs the points with index % N == i
  std::string out;
  bool quiet = false;
  int point = -1;                     // internal: run only this point (worker processes)
  std::vector<std::string> invocation;  // the command line, to start worker processes with
};

struct SweepMergeConfig {
  std::string out;
  std::vector<std::string> shards;
};

struct SweepPoint {
  int index = 0;
  std::string key;                          // directory-safe, e.g. "experts8_seed0"
  std::vector<std::string> names, values;   // the point's settings, as CSV columns
  int experts = 0;
  long long seed = 0;
  double lr = 0;        // 0: default
  long budget = 0;      // 0: default (synthetic)
  int hidden = 0;       // 0: default (image tasks)
  int train_size = 0;   // 0: all images (image tasks)
};

// The grid in its fixed order: experts, then budget or width, then training-set size, then lr, then
// seed (fastest).
std::vector<SweepPoint> expand_grid(const SweepConfig& config);

// "i/N" -> {i, N}; UsageError naming --shard when malformed.
std::pair<int, int> parse_shard(const std::string& text);

// Everything that decides the results (sweep.json's comparable part).
json::Value sweep_identity(const SweepConfig& config, const std::vector<SweepPoint>& grid);

void validate(const SweepConfig& config);
int run_sweep(const SweepConfig& config);
int run_sweep_merge(const SweepMergeConfig& config);

}  // namespace softmoe
