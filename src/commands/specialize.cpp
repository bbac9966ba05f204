#include "softmoe/commands/specialize.hpp"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <optional>
#include <sstream>

#include <fmt/format.h>

#include "softmoe/errors.hpp"
#include "softmoe/eval/oracle.hpp"
#include "softmoe/eval/subset_evaluator.hpp"
#include "softmoe/io/atomic_write.hpp"
#include "softmoe/io/csv.hpp"
#include "softmoe/threads.hpp"
#include "softmoe/rng.hpp"
#include "trained_run.hpp"

namespace softmoe {
namespace fs = std::filesystem;
namespace {

using Row = SelectionRow;

bool wants(const std::vector<SelectionMethod>& methods, SelectionMethod method) {
  return std::find(methods.begin(), methods.end(), method) != methods.end();
}

std::string optional_number(const std::optional<double>& value) { return value ? csv_number(*value) : ""; }

std::string results_csv(const std::vector<Row>& rows, int experts, int threads) {
  CsvTable table(specialize_csv_header());
  for (const auto& r : rows) table.add_row(specialize_csv_row(r, experts, threads));
  return table.str();
}

void print_summary(const SpecializeResult& result, const std::vector<int>& ks) {
  const auto find = [&](SelectionMethod method, int k) -> const Row* {
    for (const auto& r : result.rows)
      if (r.method == method && r.k == k && r.trial < 0) return &r;
    return nullptr;
  };
  const int n = result.experts;
  if (const Row* all = find(SelectionMethod::all, n))
    fmt::print("all {} experts: accuracy {:.4f}{} in {:.3f} s\n", n, all->accuracy,
               result.reported_accuracy ? fmt::format(" (train.csv reported {:.4f})", *result.reported_accuracy) : "",
               all->seconds);
  fmt::print("{:>5} {:>8} {:>8} {:>17} {:>8} {:>9} {:>9} {:>9}\n", "k", "topk", "renorm", "random (mean±sd)",
             "oracle", "topk/orc", "topk_s", "MFLOP/in");
  for (int k : ks) {
    const Row* top = find(SelectionMethod::topk, k);
    const Row* renorm = find(SelectionMethod::topk_renorm, k);
    const Row* random = find(SelectionMethod::random, k);
    const Row* oracle = find(SelectionMethod::oracle, k);
    const auto cell = [](const Row* row) { return row ? fmt::format("{:.4f}", row->accuracy) : std::string("-"); };
    fmt::print("{:>5} {:>8} {:>8} {:>17} {:>8} {:>9} {:>9} {:>9}\n", k, cell(top), cell(renorm),
               random ? fmt::format("{:.4f}±{:.4f}", random->accuracy, random->accuracy_std.value_or(0.0)) : "-",
               cell(oracle), oracle && oracle->topk_is_oracle ? fmt::format("{:.4f}", *oracle->topk_is_oracle) : "-",
               top ? fmt::format("{:.3f}", top->seconds) : "-",
               top ? fmt::format("{:.2f}", top->work.total / top->inputs / 1e6) : "-");
  }
}

// Mean and sample standard deviation of `trials` seeded random-subset evaluations (each one row too).
Row random_trials(SubsetEvaluator& evaluator, int k, int trials, std::vector<Row>& rows) {
  double sum = 0, sum_sq = 0;
  Row aggregate(SelectionMethod::random, k);
  for (int trial = 0; trial < trials; ++trial) {
    Rng rng(static_cast<std::uint64_t>(trial), Stream::selection);
    Row r = evaluator.selected(SelectionMethod::random, k, &rng);
    r.trial = trial;
    sum += r.accuracy;
    sum_sq += r.accuracy * r.accuracy;
    aggregate.seconds += r.seconds;
    aggregate.work = r.work;
    aggregate.inputs = r.inputs;
    rows.push_back(r);
  }
  const int t = trials;
  aggregate.accuracy = sum / t;
  aggregate.accuracy_std = t > 1 ? std::sqrt(std::max(0.0, (sum_sq - t * aggregate.accuracy * aggregate.accuracy) / (t - 1))) : 0.0;
  aggregate.n_trials = t;
  aggregate.seconds /= t;
  return aggregate;
}

}  // namespace

std::vector<std::string> specialize_csv_header() {
  return {"experts", "k",           "method",      "trial",   "accuracy", "accuracy_std",  "n_trials",
          "inputs",  "expert_flops", "total_flops", "seconds", "threads",  "topk_is_oracle"};
}

std::vector<std::string> specialize_csv_row(const SelectionRow& r, int experts, int threads) {
  return {std::to_string(experts),
          std::to_string(r.k),
          to_string(r.method),
          r.trial < 0 ? std::string("all") : std::to_string(r.trial),
          csv_number(r.accuracy),
          optional_number(r.accuracy_std),
          std::to_string(r.n_trials),
          std::to_string(r.inputs),
          csv_number(std::round(r.work.expert / r.inputs)),
          csv_number(std::round(r.work.total / r.inputs)),
          fmt::format("{:.4f}", r.seconds),
          std::to_string(threads),
          optional_number(r.topk_is_oracle)};
}

void validate(const SpecializeConfig& c) {
  const auto require = [](bool ok, const std::string& message) {
    if (!ok) throw UsageError(message);
  };
  require(!c.run.empty(), "--run: give a run directory of `softmoe train`");
  require(!c.methods.empty(), "--methods: give at least one method");
  require(c.random_trials >= 1, fmt::format("--random-trials: must be at least 1 (got {})", c.random_trials));
  require(std::isfinite(c.oracle_budget) && c.oracle_budget >= 0,
          fmt::format("--oracle-budget: must be a non-negative number (got {})", c.oracle_budget));
  require(c.oracle_inputs >= 1, fmt::format("--oracle-inputs: must be at least 1 (got {})", c.oracle_inputs));
  require(c.batch >= 1, fmt::format("--batch: must be at least 1 (got {})", c.batch));
  require(c.threads >= 1 && c.threads <= 256, fmt::format("--threads: must be in 1..256 (got {})", c.threads));
}

SpecializeResult run_specialize(const SpecializeConfig& c) {
  validate(c);
  SpecializeResult result;
  result.out = c.out.empty() ? (fs::path(c.run) / (c.split == EvalSplit::test ? "specialize.csv" : "specialize-train.csv")).string()
                             : c.out;
  use_threads(c.threads);
  TrainedRun run = load_trained_run(c.run, c.data_dir, c.batch, c.split);
  SubsetEvaluator evaluator(*run.model, run.data);
  const bool sparse = run.sparse_experts > 0;
  const int n = result.experts = sparse ? run.sparse_experts : evaluator.experts();
  result.reported_accuracy = run.reported_accuracy;
  auto methods = c.methods;
  if (!run.subsets && std::any_of(methods.begin(), methods.end(), [](SelectionMethod m) { return m != SelectionMethod::all; })) {
    // A sparse router picks each token's experts itself (`all` is what it does); an ablation's constant
    // dispatch or combine has no expert scores to rank: subsets are not defined for either.
    const std::string why = sparse ? "chooses its own experts" : "has no soft dispatch and combine to select with";
    if (c.methods != SpecializeConfig{}.methods)
      throw UsageError(fmt::format("--methods: a {} run {}; only `all` applies", run.router, why));
    if (!c.quiet) fmt::print(stderr, "{} run: only `all` ({}); subsets and the oracle skipped\n", run.router, why);
    methods = {SelectionMethod::all};
  }
  const std::vector<int> ks = run.subsets ? parse_k_list(c.k, n) : std::vector<int>{};
  check_writable_output(result.out, "--out");
  if (!run.paper && wants(methods, SelectionMethod::oracle)) {
    // The default list skips it with a message; asking for it is an error.
    if (c.methods != SpecializeConfig{}.methods)
      throw UsageError("--methods: oracle needs a model that is linear after its one Soft MoE layer (paper-mnist); "
                       "a ViT is not");
    if (!c.quiet) fmt::print(stderr, "oracle: skipped, the ViT is not linear after its Soft MoE layers\n");
    methods.erase(std::remove(methods.begin(), methods.end(), SelectionMethod::oracle), methods.end());
  }
  const auto log = [&](const Row& r) {
    if (!c.quiet)
      fmt::print(stderr, "{} k={}: accuracy {:.4f}{} on {} inputs ({:.2f} s{})\n", to_string(r.method), r.k,
                 r.accuracy, r.accuracy_std ? fmt::format(" ± {:.4f}", *r.accuracy_std) : "", r.inputs, r.seconds,
                 r.n_trials > 1 ? " per trial" : "");
  };

  std::vector<Row>& rows = result.rows;
  if (wants(methods, SelectionMethod::all)) {
    Row all = evaluator.all_experts();
    all.k = n;
    log(rows.emplace_back(all));
  }
  for (int k : ks) {
    if (wants(methods, SelectionMethod::topk)) log(rows.emplace_back(evaluator.selected(SelectionMethod::topk, k, nullptr)));
    if (wants(methods, SelectionMethod::topk_renorm))
      log(rows.emplace_back(evaluator.selected(SelectionMethod::topk_renorm, k, nullptr)));
    if (wants(methods, SelectionMethod::random)) log(rows.emplace_back(random_trials(evaluator, k, c.random_trials, rows)));
    if (wants(methods, SelectionMethod::oracle)) {
      const double subsets = binomial(n, k);
      int inputs = run.data.count;
      if (subsets * inputs > c.oracle_budget) inputs = std::min(c.oracle_inputs, run.data.count);
      if (subsets * inputs > c.oracle_budget) {
        if (!c.quiet)
          fmt::print(stderr, "oracle k={}: skipped, C({}, {}) = {:.3g} subsets x {} inputs exceeds --oracle-budget {:.3g}\n",
                     k, n, k, subsets, inputs, c.oracle_budget);
      } else {
        log(rows.emplace_back(oracle_row(*run.paper, run.data, k, inputs)));
      }
    }
  }
  atomic_write(result.out, results_csv(rows, n, c.threads));
  print_summary(result, ks);
  fmt::print("wrote {}\n", result.out);
  return result;
}

}  // namespace softmoe
