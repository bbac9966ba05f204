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
  const std::vector<int> sizes = !synthetic && !c.train_sizes.empty() ? c.train_sizes : std::vector<int>{0};
  const std::vector<double> lrs = c.lr.empty() ? std::vector<double>{0} : c.lr;
  std::vector<SweepPoint> grid;
  for (int n : c.experts)
    for (long budget : budgets)
      for (int hidden : widths)
        for (int size : sizes)
          for (double lr : lrs)
            for (long long seed : c.seeds) {
              SweepPoint p;
              p.index = static_cast<int>(grid.size());
              p.experts = n;
              p.seed = seed;
              p.lr = lr;
              p.budget = budget;
              p.hidden = hidden;
              p.train_size = size;
              const auto add = [&](const std::string& name, const std::string& value) {
                p.names.push_back(name);
                p.values.push_back(value);
                p.key += (p.key.empty() ? "" : "_") + name + value;
              };
              add("experts", std::to_string(n));
              if (budget) add("expert_budget", std::to_string(budget));
              if (hidden) add("expert_hidden", std::to_string(hidden));
              if (size) add("train_size", std::to_string(size));
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
  json::Value keys = json::Value::array();
  for (const auto& p : grid) keys.push_back(p.key);
  json::Value o = json::Value::object();
  o["task"] = to_string(c.task);
  o["model"] = c.task == SweepTask::synthetic ? to_string(c.task) : to_string(c.model);
  o["epochs"] = c.epochs;
  o["specialize"] = c.specialize;
  std::string methods;  // as given on the command line: names joined by commas
  for (SelectionMethod m : c.methods) methods += (methods.empty() ? "" : ",") + std::string(to_string(m));
  o["methods"] = methods;
  o["random_trials"] = c.random_trials;
  o["data_dir"] = c.data_dir;
  o["threads"] = c.threads;
  if (c.val_size) o["val_size"] = c.val_size;  // only when given: older sweeps keep their identity
  if (c.epoch_updates) o["epoch_updates"] = c.epoch_updates;
  if (c.eval_train) o["eval_train"] = true;
  if (c.task != SweepTask::synthetic && c.model == ModelKind::vit) {
    const VitOptions& v = c.vit;
    json::Value layers = json::Value::array();
    for (int b : v.moe_layers) layers.push_back(b);
    json::Value vit = json::Value::object();
    vit["patch"] = v.patch;
    vit["dim"] = v.dim;
    vit["depth"] = v.depth;
    vit["heads"] = v.heads;
    vit["mlp_hidden"] = v.mlp_hidden;
    vit["pool"] = to_string(v.pool);
    vit["moe_layers"] = std::move(layers);
    vit["moe_residual"] = v.moe_residual ? "on" : "off";
    o["vit"] = std::move(vit);
  }
  json::Value recipe = json::Value::object();  // only the settings given: a sweep without them keeps its old identity
  const RecipeOptions& r = c.recipe;
  if (r.optimizer) recipe["optimizer"] = to_string(*r.optimizer);
  if (r.weight_decay) recipe["weight_decay"] = *r.weight_decay;
  if (r.batch) recipe["batch"] = *r.batch;
  if (r.shuffle) recipe["shuffle"] = *r.shuffle;
  if (r.schedule) recipe["schedule"] = to_string(*r.schedule);
  if (r.warmup) recipe["warmup"] = *r.warmup;
  if (r.label_smoothing) recipe["label_smoothing"] = *r.label_smoothing;
  if (r.shift) recipe["shift"] = *r.shift;
  if (r.normalize) recipe["normalize"] = to_string(*r.normalize);
  if (r.phi_init) recipe["phi_init"] = to_string(*r.phi_init);
  if (!recipe.empty()) o["recipe"] = std::move(recipe);
  const RouterOptions& ro = c.routing;
  if (ro.router != Router::soft) {  // only with another router: a Soft MoE sweep keeps its old identity
    json::Value router = json::Value::object();
    router["router"] = to_string(ro.router);
    if (ro.k) router["router_k"] = *ro.k;
    if (ro.capacity_factor) router["capacity_factor"] = *ro.capacity_factor;
    if (ro.group_images) router["group_images"] = *ro.group_images;
    if (ro.bpr) router["bpr"] = true;
    if (ro.noise) router["router_noise"] = *ro.noise;
    if (ro.aux) router["aux_loss"] = to_string(*ro.aux);
    if (ro.aux_weight) router["aux_weight"] = *ro.aux_weight;
    o["router"] = std::move(router);
  }
  o["points"] = std::move(keys);
  return o;
}

}  // namespace softmoe
