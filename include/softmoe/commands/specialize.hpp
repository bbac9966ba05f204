#pragma once
// `softmoe specialize`: expert subset selection on a trained run (Algorithms 1 and 2 of Chung et al.):
// per input keep k experts (top-k by combine weight, or at random), evaluate only those, and measure
// accuracy, work and wall time; plus the exact best-subset oracle where it is affordable.
#include <optional>
#include <string>
#include <vector>

#include "softmoe/eval/subset_evaluator.hpp"
#include "softmoe/names.hpp"

namespace softmoe {

// Which images a loaded run is evaluated on: the test split, or the run's own training images (its
// --train-size subset without its --val-size hold-out, rebuilt from config.json).
enum class EvalSplit { test, train };
inline constexpr EnumName<EvalSplit> kEvalSplitNames[] = {{EvalSplit::test, "test"}, {EvalSplit::train, "train"}};
inline const char* to_string(EvalSplit value) { return name_of(value, kEvalSplitNames); }

struct SpecializeConfig {
  std::string run;                    // a `softmoe train` run directory
  std::string k = "1/2,1/4,1/8";      // list of k: integers, fractions of n, or "all" (1..n-1)
  std::vector<SelectionMethod> methods{SelectionMethod::all, SelectionMethod::topk, SelectionMethod::random,
                                      SelectionMethod::oracle};
  int random_trials = 10;
  double oracle_budget = 1e9;         // subset evaluations allowed per k
  int oracle_inputs = 1000;
  int batch = 1000;
  int threads = 1;
  std::string data_dir;               // empty: the run's own
  EvalSplit split = EvalSplit::test;
  std::string out;                    // empty: RUN/specialize.csv (split train: RUN/specialize-train.csv)
  bool quiet = false;
};

// "1,2,8", "1/2,1/4", "all" -> sorted, distinct k in [1, n]. Throws UsageError naming --k.
std::vector<int> parse_k_list(const std::string& spec, int experts);

// Throws UsageError naming the flag (the checks that need no run directory).
void validate(const SpecializeConfig& config);

// What run_specialize evaluated, in the order of the CSV it wrote.
struct SpecializeResult {
  int experts = 0;                  // n of the run's Soft MoE layers
  std::vector<SelectionRow> rows;   // random: every trial's row, then their mean (trial -1)
  std::optional<double> reported_accuracy;  // train.csv's last test accuracy
  std::string out;                  // the CSV written
};

SpecializeResult run_specialize(const SpecializeConfig& config);

// The columns of specialize.csv, and one row's fields.
std::vector<std::string> specialize_csv_header();
std::vector<std::string> specialize_csv_row(const SelectionRow& row, int experts, int threads);

}  // namespace softmoe
