#include "softmoe/eval/seed_summary.hpp"

#include <algorithm>
#include <cmath>
#include <map>
#include <stdexcept>

#include <fmt/format.h>

#include "softmoe/errors.hpp"
#include "softmoe/io/csv.hpp"

namespace softmoe {
namespace {

// I_x(a, b) by Lentz's continued fraction (Numerical Recipes' betacf), with the symmetry
// I_x(a, b) = 1 - I_{1-x}(b, a) where the fraction converges slowly.
double incomplete_beta(double a, double b, double x) {
  if (x <= 0) return 0;
  if (x >= 1) return 1;
  if (x > (a + 1) / (a + b + 2)) return 1 - incomplete_beta(b, a, 1 - x);
  const double log_front = std::lgamma(a + b) - std::lgamma(a) - std::lgamma(b) + a * std::log(x) + b * std::log1p(-x);
  constexpr double tiny = 1e-300;
  const auto guard = [](double v) { return std::abs(v) < tiny ? tiny : v; };
  double c = 1, d = 1 / guard(1 - (a + b) * x / (a + 1)), f = d;
  for (int m = 1; m < 300; ++m) {
    const double even = m * (b - m) * x / ((a + 2 * m - 1) * (a + 2 * m));
    const double odd = -(a + m) * (a + b + m) * x / ((a + 2 * m) * (a + 2 * m + 1));
    double delta = 1;
    for (double numerator : {even, odd}) {
      d = 1 / guard(1 + numerator * d);
      c = guard(1 + numerator / c);
      delta = c * d;
      f *= delta;
    }
    if (std::abs(delta - 1) < 1e-15) break;
  }
  return std::exp(log_front) * f / a;
}

// P(T <= t) for t >= 0.
double student_t_cdf(double t, double df) { return 1 - 0.5 * incomplete_beta(df / 2, 0.5, df / (df + t * t)); }

const std::vector<std::string> kGroupColumns{"experts", "expert_budget", "expert_hidden", "train_size",
                                             "lr",      "router",        "method",        "k"};
const std::vector<std::string> kMetricColumns{"accuracy",     "test_accuracy", "test_loss",    "val_accuracy",
                                              "val_loss",     "fit_accuracy",  "fit_loss",     "gap_accuracy",
                                              "gap_loss",     "train_mse",     "test_mse",     "test_r2"};

std::vector<std::size_t> present(const std::vector<std::string>& header, const std::vector<std::string>& names) {
  std::vector<std::size_t> columns;
  for (const auto& name : names) {
    const auto it = std::find(header.begin(), header.end(), name);
    if (it != header.end()) columns.push_back(static_cast<std::size_t>(it - header.begin()));
  }
  return columns;
}

}  // namespace

double student_t_975(double df) {
  if (!(df >= 1)) throw std::invalid_argument("student_t_975: df must be at least 1");
  double low = 0, high = 1000;
  for (int i = 0; i < 200 && high - low > 1e-12; ++i) {
    const double mid = 0.5 * (low + high);
    (student_t_cdf(mid, df) < 0.975 ? low : high) = mid;
  }
  return 0.5 * (low + high);
}

SeedInterval seed_interval(const std::vector<double>& values) {
  if (values.empty()) throw std::invalid_argument("seed_interval: no values");
  SeedInterval s;
  s.seeds = static_cast<int>(values.size());
  for (double v : values) s.mean += v;
  s.mean /= s.seeds;
  s.low = s.high = s.mean;
  if (s.seeds < 2) return s;
  double squares = 0;
  for (double v : values) squares += (v - s.mean) * (v - s.mean);
  s.sd = std::sqrt(squares / (s.seeds - 1));
  const double half = student_t_975(s.seeds - 1) * s.sd / std::sqrt(static_cast<double>(s.seeds));
  s.low = s.mean - half;
  s.high = s.mean + half;
  return s;
}

std::string seed_summary_csv(const std::vector<std::vector<std::string>>& table) {
  const std::vector<std::string> header = table.empty() ? std::vector<std::string>{} : table.front();
  const auto groups = present(header, kGroupColumns);
  const auto metrics = present(header, kMetricColumns);
  std::vector<std::string> out_header;
  for (std::size_t g : groups) out_header.push_back(header[g]);
  out_header.insert(out_header.end(), {"metric", "seeds", "mean", "sd", "ci95_low", "ci95_high", "interval"});
  CsvTable out(out_header);

  std::vector<std::vector<std::string>> order;  // group keys, first seen first
  std::map<std::vector<std::string>, std::vector<std::vector<double>>> values;  // key -> per metric
  for (std::size_t r = 1; r < table.size(); ++r) {
    const auto& row = table[r];
    if (row.size() != header.size()) throw RunError(fmt::format("results row {} has {} fields, the header {}", r,
                                                                row.size(), header.size()));
    std::vector<std::string> key;
    for (std::size_t g : groups) key.push_back(row[g]);
    auto [it, inserted] = values.try_emplace(key, metrics.size());
    if (inserted) order.push_back(key);
    for (std::size_t m = 0; m < metrics.size(); ++m) {
      const std::string& field = row[metrics[m]];
      if (field.empty()) continue;
      std::size_t used = 0;
      double v = 0;
      try {
        v = std::stod(field, &used);
      } catch (const std::exception&) {
        used = 0;
      }
      if (used != field.size())
        throw RunError(fmt::format("results row {}: {} is not a number: '{}'", r, header[metrics[m]], field));
      it->second[m].push_back(v);
    }
  }
  for (const auto& key : order)
    for (std::size_t m = 0; m < metrics.size(); ++m) {
      const auto& v = values[key][m];
      if (v.empty()) continue;
      const SeedInterval s = seed_interval(v);
      std::vector<std::string> row = key;
      row.insert(row.end(), {header[metrics[m]], std::to_string(s.seeds), csv_number(s.mean), csv_number(s.sd),
                             csv_number(s.low), csv_number(s.high), "t95"});
      out.add_row(row);
    }
  return out.str();
}

}  // namespace softmoe
