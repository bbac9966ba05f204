#pragma once
// `softmoe specialize`: expert subset selection on a trained run (Algorithms 1 and 2 of Chung et al.):
// per input keep k experts (top-k by combine weight, or at random), evaluate only those, and measure
// accuracy, work and wall time; plus the exact best-subset oracle where it is affordable.
#include <string>
#include <vector>

namespace softmoe {

struct SpecializeConfig {
  std::string run;                    // a `softmoe train` run directory
  std::string k = "1/2,1/4,1/8";      // list of k: integers, fractions of n, or "all" (1..n-1)
  std::string methods = "all,topk,random,oracle";
  int random_trials = 10;
  double oracle_budget = 1e9;         // subset evaluations allowed per k
  int oracle_inputs = 1000;
  int batch = 1000;
  int threads = 1;
  std::string data_dir;               // empty: the run's own
  std::string out;                    // empty: RUN/specialize.csv
  bool quiet = false;
};

// "1,2,8", "1/2,1/4", "all" -> sorted, distinct k in [1, n]. Throws UsageError naming --k.
std::vector<int> parse_k_list(const std::string& spec, int experts);

// Throws UsageError naming the flag (the checks that need no run directory).
void validate(const SpecializeConfig& config);

int run_specialize(const SpecializeConfig& config);

}  // namespace softmoe
