#pragma once
// `softmoe synthetic`: can a Soft MoE represent ||X||? One model per (experts, seed) at a fixed total
// expert parameter budget, trained with Adam on MSE; one CSV row each, and a summary table.
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "softmoe/data/synthetic.hpp"
#include "softmoe/layers/activation.hpp"
#include "softmoe/layers/softmoe.hpp"

namespace softmoe {

struct SyntheticConfig {
  SyntheticTarget target = SyntheticTarget::norm;
  int tokens = 8;
  int dim = 16;
  double min_length = 0.5;
  double max_length = 2.0;
  std::vector<int> experts{1, 2, 4, 8, 16, 32};
  int slots = 1;
  long expert_params = 8192;
  Normalize normalize = Normalize::router;
  PhiInit phi_init = PhiInit::normal;
  Activation activation = Activation::relu;
  bool expert_bias = true;
  std::vector<long long> seeds{0, 1, 2};
  int train_size = 4096;
  int test_size = 2048;
  int epochs = 200;
  int batch = 128;
  double lr = 1e-3;
  int threads = 1;
  std::string out;
  bool quiet = false;
};

// One (experts, seed) point: train, evaluate, time.
struct SyntheticPoint {
  int experts = 0;
  long long seed = 0;
  int hidden = 0;
  std::size_t expert_params = 0;
  std::size_t total_params = 0;
  double train_mse = 0, test_mse = 0, target_variance = 0, seconds = 0;
};

// Runs one point of a validated config (throws RunError when training diverges).
SyntheticPoint run_synthetic_point(const SyntheticConfig& config, int experts, long long seed);

// The CSV columns of `softmoe synthetic`, and one point's row.
std::vector<std::string> synthetic_csv_header();
std::vector<std::string> synthetic_csv_row(const SyntheticConfig& config, const SyntheticPoint& point);

// Each expert's hidden width under the budget: floor(P / (n (d_in + d_out))).
long synthetic_hidden_width(long expert_params, int experts, int dim);

// Throws UsageError naming the flag for any impossible setting, including an unwritable --out.
void validate(const SyntheticConfig& config);

// Runs every (experts, seed) point, in the order of --experts then --seeds; writes --out when given.
std::vector<SyntheticPoint> run_synthetic(const SyntheticConfig& config);

}  // namespace softmoe
