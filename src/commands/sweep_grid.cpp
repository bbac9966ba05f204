#include <fmt/format.h>

#include "softmoe/commands/sweep.hpp"
#include "softmoe/errors.hpp"
#include "softmoe/io/csv.hpp"

namespace softmoe {

std::vector<SweepPoint> expand_grid(const SweepConfig& c) {
  const bool synthetic = c.task == SweepTask::synthetic;
  const bool budgets_apply = synthetic || c.model == ModelKind::vit;
  const std::vector<long> budgets = budgets_apply && !c.expert_params.empty() ? c.expert_params : std::vector<long>{0};
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
  o.emplace_back("task", to_string(c.task));
  o.emplace_back("model", c.task == SweepTask::synthetic ? to_string(c.task) : to_string(c.model));
  o.emplace_back("epochs", c.epochs);
  o.emplace_back("specialize", c.specialize);
  std::string methods;  // as given on the command line: names joined by commas
  for (SelectionMethod m : c.methods) methods += (methods.empty() ? "" : ",") + std::string(to_string(m));
  o.emplace_back("methods", methods);
  o.emplace_back("random_trials", c.random_trials);
  o.emplace_back("data_dir", c.data_dir);
  o.emplace_back("threads", c.threads);
  if (c.task != SweepTask::synthetic && c.model == ModelKind::vit) {
    const VitOptions& v = c.vit;
    json::Array layers;
    for (int b : v.moe_layers) layers.emplace_back(b);
    json::Object vit;
    vit.emplace_back("patch", v.patch);
    vit.emplace_back("dim", v.dim);
    vit.emplace_back("depth", v.depth);
    vit.emplace_back("heads", v.heads);
    vit.emplace_back("mlp_hidden", v.mlp_hidden);
    vit.emplace_back("pool", to_string(v.pool));
    vit.emplace_back("moe_layers", std::move(layers));
    vit.emplace_back("moe_residual", v.moe_residual ? "on" : "off");
    o.emplace_back("vit", std::move(vit));
  }
  json::Object recipe;  // only the settings given: a sweep without them keeps its old identity
  const RecipeOptions& r = c.recipe;
  if (r.optimizer) recipe.emplace_back("optimizer", to_string(*r.optimizer));
  if (r.weight_decay) recipe.emplace_back("weight_decay", *r.weight_decay);
  if (r.batch) recipe.emplace_back("batch", *r.batch);
  if (r.shuffle) recipe.emplace_back("shuffle", *r.shuffle);
  if (r.schedule) recipe.emplace_back("schedule", to_string(*r.schedule));
  if (r.warmup) recipe.emplace_back("warmup", *r.warmup);
  if (r.label_smoothing) recipe.emplace_back("label_smoothing", *r.label_smoothing);
  if (r.shift) recipe.emplace_back("shift", *r.shift);
  if (r.normalize) recipe.emplace_back("normalize", to_string(*r.normalize));
  if (r.phi_init) recipe.emplace_back("phi_init", to_string(*r.phi_init));
  if (!recipe.empty()) o.emplace_back("recipe", std::move(recipe));
  o.emplace_back("points", std::move(keys));
  return json::Value(std::move(o));
}

}  // namespace softmoe
