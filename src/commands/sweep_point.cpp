// One point of a sweep, run in a worker process: train (and specialize) or a synthetic model, then
// the point's rows into DIR/points/INDEX.csv, atomically: that file is the journal entry.
#include <filesystem>
#include <sstream>

#include <fmt/format.h>

#include "softmoe/commands/specialize.hpp"
#include "softmoe/commands/sweep.hpp"
#include "sweep_internal.hpp"
#include "softmoe/commands/synthetic.hpp"
#include "softmoe/commands/train.hpp"
#include "softmoe/errors.hpp"
#include "softmoe/io/atomic_write.hpp"
#include "softmoe/io/csv.hpp"
#include "softmoe/threads.hpp"

namespace softmoe {
namespace fs = std::filesystem;

fs::path sweep_point_file(const fs::path& dir, const SweepPoint& p) {
  return dir / "points" / fmt::format("{:05d}.csv", p.index);
}

namespace {

const std::vector<std::string> kTrainColumns{"hidden", "expert_params", "epochs", "train_loss", "train_accuracy",
                                             "test_loss", "test_accuracy", "train_seconds"};
// after kTrainColumns with a sparse router: its name and what it did on the test set after the last epoch
const std::vector<std::string> kRoutingColumns{"router", "drop_rate", "capacity_factor"};
const std::vector<std::string> kSelectionColumns{"method",       "k",           "accuracy", "accuracy_std",
                                                 "n_trials",     "inputs",      "expert_flops",
                                                 "total_flops",  "seconds",     "threads",
                                                 "topk_is_oracle"};

}  // namespace

SyntheticConfig synthetic_point_config(const SweepConfig& c, const SweepPoint& p) {
  SyntheticConfig s;
  s.experts = {p.experts};
  s.seeds = {p.seed};
  if (p.budget) s.expert_params = p.budget;
  if (p.lr != 0) s.lr = p.lr;
  if (c.epochs) s.epochs = c.epochs;
  s.threads = c.threads;
  s.quiet = true;
  return s;
}

TrainConfig train_point_config(const SweepConfig& c, const SweepPoint& p, const fs::path& run_dir) {
  TrainConfig t;
  t.dataset = c.task == SweepTask::fashion_mnist ? Dataset::fashion_mnist : Dataset::mnist;
  t.data_dir = c.data_dir;
  t.model = c.model;
  t.experts = p.experts;
  t.expert_hidden = p.hidden;
  if (p.train_size) t.train_size = p.train_size;
  t.val_size = c.val_size;
  if (c.epoch_updates) t.epoch_updates = c.epoch_updates;
  t.eval_train = c.eval_train;
  if (p.lr != 0) t.lr = p.lr;
  if (c.epochs) t.epochs = c.epochs;
  t.seed = p.seed;
  t.recipe = c.recipe;
  t.vit = c.vit;
  t.routing = c.routing;
  if (p.budget) t.vit.expert_params = p.budget;
  t.threads = c.threads;
  t.invocation = c.invocation;
  t.out = run_dir.string();
  t.quiet = true;
  return t;
}

namespace {

std::vector<std::string> concat(std::vector<std::string> a, const std::vector<std::string>& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

// The column's value in `row` under `header`.
std::string field(const std::vector<std::string>& header, const std::vector<std::string>& row, const std::string& name) {
  for (std::size_t i = 0; i < header.size() && i < row.size(); ++i)
    if (header[i] == name) return row[i];
  throw RunError(fmt::format("sweep: column '{}' missing", name));
}

CsvTable synthetic_rows(const SweepConfig& c, const SweepPoint& p) {
  const SyntheticConfig s = synthetic_point_config(c, p);
  const auto header = synthetic_csv_header();
  const auto row = synthetic_csv_row(s, run_synthetic_point(s, p.experts, p.seed));
  std::vector<std::string> names = p.names, values = p.values;
  for (std::size_t i = 0; i < header.size(); ++i)
    if (header[i] != "experts" && header[i] != "seed") {
      names.push_back(header[i]);
      values.push_back(row[i]);
    }
  CsvTable table(names);
  table.add_row(values);
  return table;
}

CsvTable image_rows(const SweepConfig& c, const SweepPoint& p, const fs::path& dir) {
  const fs::path run = dir / "runs" / p.key;
  TrainConfig t = train_point_config(c, p, run);
  std::error_code ec;
  if (fs::is_regular_file(run / "optimizer.safetensors", ec)) t.resume = true;
  else fs::remove_all(run, ec);  // an attempt that never finished an epoch
  fs::create_directories(run.parent_path(), ec);
  const TrainResult trained_run = run_train(t);
  if (trained_run.epochs.empty()) throw RunError(fmt::format("sweep: {} completed no epoch", run.string()));

  const EpochRow& last = trained_run.epochs.back();
  double train_seconds = 0;
  for (const EpochRow& row : trained_run.epochs) train_seconds += row.train_seconds;
  const std::vector<std::string> trained_values{std::to_string(trained_run.expert_hidden),
                                         std::to_string(trained_run.expert_parameters),
                                         std::to_string(last.epoch),
                                         csv_number(last.train_loss),
                                         csv_number(last.train_accuracy),
                                         csv_number(last.test_loss),
                                         csv_number(last.test_accuracy),
                                         fmt::format("{:.3f}", train_seconds)};
  std::vector<std::string> train_columns = kTrainColumns;
  std::vector<std::string> trained = trained_values;
  if (last.validation) {
    train_columns = concat(train_columns, {"val_loss", "val_accuracy"});
    trained = concat(trained, {csv_number(last.validation->loss), csv_number(last.validation->accuracy)});
  }
  if (last.fit) {  // the final model on its own training images, and the generalisation gap
    train_columns = concat(train_columns, {"fit_loss", "fit_accuracy", "gap_loss", "gap_accuracy"});
    trained = concat(trained, {csv_number(last.fit->loss), csv_number(last.fit->accuracy),
                               csv_number(last.test_loss - last.fit->loss),
                               csv_number(last.fit->accuracy - last.test_accuracy)});
  }
  if (c.routing.router != Router::soft) {
    train_columns = concat(train_columns, kRoutingColumns);
    const RoutingColumns routing = last.routing.value_or(RoutingColumns{});
    trained = concat(trained, {to_string(c.routing.router), csv_number(routing.drop_rate),
                               csv_number(routing.capacity_factor)});
  }

  CsvTable table(concat(concat(p.names, train_columns), kSelectionColumns));
  if (c.specialize.empty()) {
    table.add_row(concat(concat(p.values, trained), {"all", std::to_string(p.experts), csv_number(last.test_accuracy),
                                                     "", "1", "", "", "", "", std::to_string(c.threads), ""}));
    return table;
  }
  // Each point keeps the k of the list that make sense for its n (1/8 of 4 experts does not).
  std::string ks;
  std::stringstream items(c.specialize);
  for (std::string item; std::getline(items, item, ',');) {
    try {
      parse_k_list(item, p.experts);
      ks += (ks.empty() ? "" : ",") + item;
    } catch (const UsageError&) {
    }
  }
  SpecializeConfig s;
  s.run = run.string();
  s.k = ks.empty() ? std::to_string(p.experts) : ks;
  s.methods = c.methods;
  if (c.routing.router != Router::soft) s.methods = {SelectionMethod::all};  // the router's own choice, or an ablation
  s.random_trials = c.random_trials;
  s.threads = c.threads;
  s.data_dir = c.data_dir;
  s.out = (run / "specialize.csv").string();
  s.quiet = true;
  const SpecializeResult selected = run_specialize(s);
  const auto header = specialize_csv_header();
  for (const SelectionRow& row : selected.rows) {
    if (row.trial >= 0) continue;
    const auto fields = specialize_csv_row(row, selected.experts, c.threads);
    std::vector<std::string> values = concat(p.values, trained);
    for (const auto& name : kSelectionColumns) values.push_back(field(header, fields, name));
    table.add_row(values);
  }
  return table;
}

}  // namespace

void run_sweep_point(const SweepConfig& c, const SweepPoint& p, const fs::path& dir) {
  use_threads(c.threads);
  const CsvTable rows = c.task == SweepTask::synthetic ? synthetic_rows(c, p) : image_rows(c, p, dir);
  atomic_write(sweep_point_file(dir, p), rows.str());
}

}  // namespace softmoe
