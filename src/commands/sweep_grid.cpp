#include <fmt/format.h>

#include "softmoe/commands/sweep.hpp"
#include "softmoe/errors.hpp"
#include "softmoe/io/csv.hpp"

namespace softmoe {

std::vector<SweepPoint> expand_grid(const SweepConfig& c) {
  const bool synthetic = c.task == "synthetic";
  const std::vector<long> budgets = synthetic && !c.expert_params.empty() ? c.expert_params : std::vector<long>{0};
  const std::vector<int> widths = !synthetic && !c.expert_hidden.empty() ? c.expert_hidden : std::vector<int>{0};
  const std::vector<double> lrs = c.lr.empty() ? std::vector<double>{0} : c.lr;
  std::vector<SweepPoint> grid;
  for (int n : c.experts)
    for (long budget : budgets)
      for (int hidden : widths)
        for (double lr : lrs)
          for (long long seed : c.seeds) {
            SweepPoint p;
            p.index = static_cast<int>(grid.size());
            p.experts = n;
            p.seed = seed;
            p.lr = lr;
            p.budget = budget;
            p.hidden = hidden;
            const auto add = [&](const std::string& name, const std::string& value) {
              p.names.push_back(name);
              p.values.push_back(value);
              p.key += (p.key.empty() ? "" : "_") + name + value;
            };
            add("experts", std::to_string(n));
            if (budget) add("expert_budget", std::to_string(budget));
            if (hidden) add("expert_hidden", std::to_string(hidden));
            if (lr != 0) add("lr", csv_number(lr));
            add("seed", std::to_string(seed));
            grid.push_back(std::move(p));
          }
  return grid;
}

std::pair<int, int> parse_shard(const std::string& text) {
  int index = -1, count = 0;
  char slash = 0, extra = 0;
  if (std::sscanf(text.c_str(), "%d%c%d%c", &index, &slash, &count, &extra) != 3 || slash != '/' || count < 1 ||
      index < 0 || index >= count)
    throw UsageError(fmt::format("--shard: expected i/N with 0 <= i < N (e.g. 0/4), got '{}'", text));
  return {index, count};
}

json::Value sweep_identity(const SweepConfig& c, const std::vector<SweepPoint>& grid) {
  json::Array keys;
  for (const auto& p : grid) keys.emplace_back(p.key);
  json::Object o;
  o.emplace_back("task", c.task);
  o.emplace_back("model", c.task == "synthetic" ? std::string("synthetic") : c.model);
  o.emplace_back("epochs", c.epochs);
  o.emplace_back("specialize", c.specialize);
  o.emplace_back("methods", c.methods);
  o.emplace_back("random_trials", c.random_trials);
  o.emplace_back("data_dir", c.data_dir);
  o.emplace_back("threads", c.threads);
  o.emplace_back("points", std::move(keys));
  return json::Value(std::move(o));
}

}  // namespace softmoe
