#include "softmoe/commands/synthetic.hpp"

#include <chrono>
#include <cmath>
#include <map>

#include <fmt/format.h>

#include "softmoe/data/synthetic.hpp"
#include "softmoe/errors.hpp"
#include "softmoe/io/atomic_write.hpp"
#include "softmoe/io/csv.hpp"
#include "softmoe/threads.hpp"
#include "softmoe/models/moe_model.hpp"
#include "softmoe/optim.hpp"
#include "softmoe/rng.hpp"
#include "softmoe/train/regression.hpp"

namespace softmoe {
namespace {

void require(bool ok, const std::string& message) {
  if (!ok) throw UsageError(message);
}

MoeModelConfig model_config(const SyntheticConfig& c, int experts) {
  MoeModelConfig m;
  m.moe.tokens = c.tokens;
  m.moe.dim = c.dim;
  m.moe.experts = experts;
  m.moe.slots = c.slots;
  m.moe.hidden = static_cast<int>(synthetic_hidden_width(c.expert_params, experts, c.dim));
  m.moe.dim_out = c.dim;
  m.moe.expert_bias = c.expert_bias;
  m.moe.activation = c.activation;
  m.moe.normalize = c.normalize;
  m.outputs = 1;
  m.head_bias = true;
  m.phi_init = c.phi_init;
  return m;
}

}  // namespace

SyntheticPoint run_synthetic_point(const SyntheticConfig& c, int experts, long long seed) {
  const auto seed_bits = static_cast<std::uint64_t>(seed);
  SyntheticSpec spec{c.tokens, c.dim, c.min_length, c.max_length, c.target};
  Rng data_rng(seed_bits, Stream::data), test_rng(seed_bits, Stream::test_data);
  const RegressionData train = make_synthetic(spec, c.train_size, data_rng);
  const RegressionData test = make_synthetic(spec, c.test_size, test_rng);

  const auto start = std::chrono::steady_clock::now();
  MoeModel<float> model(model_config(c, experts), std::min(c.batch, c.train_size));
  Rng init_rng(seed_bits, Stream::init), shuffle_rng(seed_bits, Stream::shuffle);
  model.init(init_rng);
  OptimizerConfig adam;
  adam.lr = c.lr;
  Optimizer<float> optimizer(adam, model.params().size());
  try {
    train_regression(model, optimizer, train, c.epochs, shuffle_rng);
  } catch (const RunError& e) {
    throw RunError(fmt::format("experts={} seed={}: {}", experts, seed, e.what()));
  }

  SyntheticPoint r;
  r.experts = experts;
  r.seed = seed;
  r.hidden = model.config().moe.hidden;
  r.expert_params = model.expert_param_count();
  r.total_params = model.params().size();
  r.train_mse = evaluate_mse(model, train);
  r.test_mse = evaluate_mse(model, test);
  r.target_variance = variance(test.y);
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return r;
}

std::vector<std::string> synthetic_csv_header() {
  return {"target", "tokens", "dim", "experts", "slots", "hidden", "expert_params", "total_params", "normalize", "seed",
          "epochs", "train_mse", "test_mse", "target_variance", "test_r2", "seconds", "threads"};
}

std::vector<std::string> synthetic_csv_row(const SyntheticConfig& c, const SyntheticPoint& r) {
  return {to_string(c.target), std::to_string(c.tokens), std::to_string(c.dim), std::to_string(r.experts), std::to_string(c.slots),
          std::to_string(r.hidden), std::to_string(r.expert_params), std::to_string(r.total_params), to_string(c.normalize),
          std::to_string(r.seed), std::to_string(c.epochs), csv_number(r.train_mse), csv_number(r.test_mse),
          csv_number(r.target_variance), csv_number(1.0 - r.test_mse / r.target_variance),
          fmt::format("{:.3f}", r.seconds), std::to_string(c.threads)};
}

namespace {

CsvTable results_table(const SyntheticConfig& c, const std::vector<SyntheticPoint>& results) {
  CsvTable table(synthetic_csv_header());
  for (const auto& r : results) table.add_row(synthetic_csv_row(c, r));
  return table;
}

void print_summary(const SyntheticConfig& c, const std::vector<SyntheticPoint>& results) {
  fmt::print("target {} of {} tokens x {} dims; expert budget {} parameters; {} epochs; {} seed(s); {} thread(s)\n",
             to_string(c.target), c.tokens, c.dim, c.expert_params, c.epochs, c.seeds.size(), c.threads);
  fmt::print("{:>7} {:>6} {:>13} {:>10} {:>10} {:>10} {:>8}\n", "experts", "hidden", "expert_params",
             "train_mse", "test_mse", "std", "test_r2");
  for (int n : c.experts) {
    double train = 0, test = 0, test_sq = 0, variance_sum = 0;
    int count = 0, hidden = 0;
    std::size_t expert_params = 0;
    for (const auto& r : results)
      if (r.experts == n) {
        train += r.train_mse;
        test += r.test_mse;
        test_sq += r.test_mse * r.test_mse;
        variance_sum += r.target_variance;
        hidden = r.hidden;
        expert_params = r.expert_params;
        ++count;
      }
    if (count == 0) continue;
    const double mean = test / count;
    const double sd = count > 1 ? std::sqrt(std::max(0.0, (test_sq - count * mean * mean) / (count - 1))) : 0.0;
    fmt::print("{:>7} {:>6} {:>13} {:>10.4f} {:>10.4f} {:>10.4f} {:>8.3f}\n", n, hidden, expert_params,
               train / count, mean, sd, 1.0 - mean / (variance_sum / count));
  }
}

}  // namespace

long synthetic_hidden_width(long expert_params, int experts, int dim) {
  return expert_params / (static_cast<long>(experts) * 2L * dim);
}

void validate(const SyntheticConfig& c) {
  require(!c.experts.empty(), "--experts: give at least one number of experts");
  for (int n : c.experts) require(n >= 1, fmt::format("--experts: every value must be at least 1 (got {})", n));
  require(!c.seeds.empty(), "--seeds: give at least one seed");
  for (long long s : c.seeds) require(s >= 0, fmt::format("--seeds: seeds must be non-negative (got {})", s));
  require(c.tokens >= 1, fmt::format("--tokens: must be at least 1 (got {})", c.tokens));
  require(c.dim >= 1, fmt::format("--dim: must be at least 1 (got {})", c.dim));
  require(c.slots >= 1, fmt::format("--slots: must be at least 1 (got {})", c.slots));
  require(c.expert_params >= 1, fmt::format("--expert-params: must be at least 1 (got {})", c.expert_params));
  require(c.train_size >= 1, fmt::format("--train-size: must be at least 1 (got {})", c.train_size));
  require(c.test_size >= 2, fmt::format("--test-size: must be at least 2 (got {})", c.test_size));
  require(c.epochs >= 1, fmt::format("--epochs: must be at least 1 (got {})", c.epochs));
  require(c.batch >= 1, fmt::format("--batch: must be at least 1 (got {})", c.batch));
  require(std::isfinite(c.lr) && c.lr > 0, fmt::format("--lr: must be a positive number (got {})", c.lr));
  require(c.threads >= 1 && c.threads <= 256, fmt::format("--threads: must be in 1..256 (got {})", c.threads));
  require(std::isfinite(c.min_length) && c.min_length >= 0,
          fmt::format("--min-length: must be a non-negative number (got {})", c.min_length));
  require(std::isfinite(c.max_length) && c.max_length > c.min_length,
          fmt::format("--max-length: must be larger than --min-length {} (got {})", c.min_length, c.max_length));
  for (int n : c.experts) {
    const long hidden = synthetic_hidden_width(c.expert_params, n, c.dim);
    require(hidden >= 1, fmt::format("--expert-params {}: gives experts of hidden width 0 at --experts {} "
                                     "(width = floor(P / (n * 2 * dim)); needs P >= {})",
                                     c.expert_params, n, 2L * n * c.dim));
  }
  if (!c.out.empty()) check_writable_output(c.out, "--out");
}

std::vector<SyntheticPoint> run_synthetic(const SyntheticConfig& c) {
  validate(c);
  use_threads(c.threads);
  std::vector<SyntheticPoint> results;
  const std::size_t total = c.experts.size() * c.seeds.size();
  for (int n : c.experts)
    for (long long seed : c.seeds) {
      results.push_back(run_synthetic_point(c, n, seed));
      const auto& r = results.back();
      if (!c.quiet)
        fmt::print(stderr, "[{}/{}] experts={} hidden={} seed={}: train_mse={:.4f} test_mse={:.4f} ({:.1f} s)\n",
                   results.size(), total, n, r.hidden, seed, r.train_mse, r.test_mse, r.seconds);
    }
  if (!c.out.empty()) atomic_write(c.out, results_table(c, results).str());
  print_summary(c, results);
  if (!c.out.empty()) fmt::print("wrote {}\n", c.out);
  return results;
}

}  // namespace softmoe
