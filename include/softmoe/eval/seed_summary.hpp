#pragma once
// Aggregation over seeds: mean, sample standard deviation and a two-sided 95% Student-t interval,
// per group of rows of a sweep's results.csv (`sweep` writes DIR/summary.csv with it).
#include <string>
#include <vector>

namespace softmoe {

// The 0.975 quantile of Student's t with df >= 1 degrees of freedom (bisection on the distribution
// function, itself the regularised incomplete beta function): 12.706 at df 1, 2.262 at df 9.
double student_t_975(double df);

struct SeedInterval {
  int seeds = 0;
  double mean = 0, sd = 0;        // sd: sample standard deviation (n - 1); 0 for one seed
  double low = 0, high = 0;       // mean -+ t_975(n - 1) sd / sqrt(n); the mean itself for one seed
};

// values: at least one.
SeedInterval seed_interval(const std::vector<double>& values);

// The summary of a results table (rows of fields, the header first): rows grouped by the setting
// columns present among experts, expert_budget, expert_hidden, train_size, lr, router, method, k (so
// every column that is a grid axis except seed), in first-seen order; for each group and each metric
// column present (accuracy, test_accuracy, test_loss, val_accuracy, val_loss, fit_accuracy, fit_loss,
// gap_accuracy, gap_loss, train_mse, test_mse, test_r2) with at least one value, one row:
//   <group columns>, metric, seeds, mean, sd, ci95_low, ci95_high, interval ("t95").
// Throws RunError when a metric field is not a number.
std::string seed_summary_csv(const std::vector<std::vector<std::string>>& table);

}  // namespace softmoe
