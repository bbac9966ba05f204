#include "softmoe/commands/specialize.hpp"

#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <memory>
#include <optional>
#include <sstream>

#include <fmt/format.h>

#include "softmoe/data/image_dataset.hpp"
#include "softmoe/errors.hpp"
#include "softmoe/io/atomic_write.hpp"
#include "softmoe/io/checkpoint.hpp"
#include "softmoe/io/csv.hpp"
#include "softmoe/kernels/gemm.hpp"
#include "softmoe/layers/linear.hpp"
#include "softmoe/layers/loss.hpp"
#include "softmoe/models/paper_mnist.hpp"
#include "softmoe/rng.hpp"
#include "softmoe/layers/softmoe_selected.hpp"
#include "softmoe/eval/oracle.hpp"
#include "softmoe/layers/expert_selection.hpp"
#include "specialize_internal.hpp"

namespace softmoe {
namespace fs = std::filesystem;
namespace {

const std::vector<std::string> kMethods{"all", "topk", "topk-renorm", "random", "oracle"};

using Row = SpecializeRow;

struct LoadedRun {
  std::unique_ptr<SubsetEvaluator> evaluator;
  bool vit = false;
  std::optional<double> reported_accuracy;  // the last test_accuracy of train.csv
};

std::string read_text(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

std::optional<double> last_test_accuracy(const fs::path& csv) {
  std::istringstream lines(read_text(csv));
  std::string header, line, last;
  if (!std::getline(lines, header)) return std::nullopt;
  while (std::getline(lines, line))
    if (!line.empty()) last = line;
  std::vector<std::string> names, values;
  std::stringstream h(header), v(last);
  for (std::string f; std::getline(h, f, ',');) names.push_back(f);
  for (std::string f; std::getline(v, f, ',');) values.push_back(f);
  for (std::size_t i = 0; i < names.size() && i < values.size(); ++i)
    if (names[i] == "test_accuracy") return std::stod(values[i]);
  return std::nullopt;
}

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

// The paper's model: evaluates the test set with every expert, or with a per-input subset, or runs the
// oracle.
class Specializer final : public SubsetEvaluator {
 public:
  Specializer(std::unique_ptr<MoeModel<float>> owned, TokenDataset test, int batch)
      : owned_(std::move(owned)), model_(*owned_), test_(std::move(test)), batch_(batch),
        shape_(model_.config().moe),
        classes_(model_.config().outputs), ws_(shape_, batch),
        y_(make_buffer<float>(static_cast<std::size_t>(batch) * shape_.tokens * shape_.dim_out)),
        logits_(make_buffer<float>(static_cast<std::size_t>(batch) * classes_)) {
    head_weight_ = model_.params().value(*model_.params().find("head.weight"));
    if (auto id = model_.params().find("head.bias")) head_bias_ = model_.params().value(*id);
  }

  int experts() const override { return shape_.experts; }
  int test_count() const override { return test_.count; }
  bool has_oracle() const override { return true; }

  Row all_experts() override {
    Row row("all", shape_.experts);
    const auto start = std::chrono::steady_clock::now();
    long correct = 0;
    for (int first = 0; first < test_.count; first += batch_) {
      const int B = std::min(batch_, test_.count - first);
      correct += count_correct(model_.forward(x(first), B), test_.labels.data() + first, B, classes_);
    }
    row.seconds = seconds_since(start);
    row.inputs = test_.count;
    row.accuracy = static_cast<double>(correct) / test_.count;
    row.work = full_work(test_.count);
    return row;
  }

  // method topk, topk-renorm or random (then rng draws the subsets).
  Row selected(const std::string& method, int k, Rng* rng) override {
    Row row(method, k);
    const bool renormalize = method == "topk-renorm";
    const auto start = std::chrono::steady_clock::now();
    long correct = 0;
    const auto w = model_.moe_values();
    for (int first = 0; first < test_.count; first += batch_) {
      const int B = std::min(batch_, test_.count - first);
      route_batch(ws_, x(first), w, shape_, B);
      if (rng) keep_random(ws_.keep.data(), B, shape_.experts, k, *rng);
      else keep_top_k(ws_.keep.data(), ws_.scores.data(), B, shape_.experts, k);
      run_kept_experts(y_.data(), ws_, x(first), w, shape_, B, renormalize, &row.work);
      linear_forward(logits_.data(), y_.data(), head_weight_, head_bias_, B, model_.config().head_inputs(), classes_);
      correct += count_correct(logits_.data(), test_.labels.data() + first, B, classes_);
    }
    row.seconds = seconds_since(start);
    row.inputs = test_.count;
    row.accuracy = static_cast<double>(correct) / test_.count;
    add_head_work(row.work, test_.count);
    return row;
  }

  Row oracle(int k, int inputs) override {
    Row row("oracle", k);
    const int n = shape_.experts;
    const auto start = std::chrono::steady_clock::now();
    std::vector<float> contributions(static_cast<std::size_t>(batch_) * n * classes_);
    std::vector<float> scratch(static_cast<std::size_t>(shape_.tokens) * shape_.dim_out);
    long some = 0, topk_too = 0;
    for (int first = 0; first < inputs; first += batch_) {
      const int B = std::min(batch_, inputs - first);
      model_.forward(x(first), B);
      auto& act = model_.moe_activations();
      expert_logit_contributions(contributions.data(), act.combine.data(), act.slot_out.data(), head_weight_, B,
                                 shape_, classes_, scratch.data());
      expert_scores(ws_.scores.data(), act.combine.data(), B, shape_.tokens, n, shape_.slots);
      keep_top_k(ws_.keep.data(), ws_.scores.data(), B, n, k);
      for (int b = 0; b < B; ++b) {
        const float* contribution = contributions.data() + static_cast<long>(b) * n * classes_;
        const std::uint8_t* top = ws_.keep.data() + static_cast<long>(b) * n;
        const int label = test_.labels[first + b];
        if (!some_subset_correct(contribution, head_bias_, n, classes_, k, label, top)) continue;
        ++some;
        topk_too += subset_correct(contribution, head_bias_, n, classes_, label, top);
      }
    }
    row.seconds = seconds_since(start);
    row.inputs = inputs;
    row.accuracy = static_cast<double>(some) / inputs;
    row.topk_is_oracle = some > 0 ? static_cast<double>(topk_too) / some : 0.0;
    row.work = full_work(inputs);
    return row;
  }

 private:
  const float* x(int first) const {
    return test_.x.data() + static_cast<std::size_t>(first) * shape_.tokens * shape_.dim;
  }

  WorkCount full_work(long inputs) const {
    const double m = shape_.tokens, d = shape_.dim, h = shape_.hidden, d_out = shape_.dim_out,
                 S = shape_.total_slots();
    WorkCount work;
    work.expert = inputs * S * 2.0 * (d * h + h * d_out);
    work.total = work.expert + inputs * (2.0 * m * d * S + S * 2.0 * m * (d + d_out));
    add_head_work(work, inputs);
    return work;
  }

  void add_head_work(WorkCount& work, long inputs) const {
    work.total += inputs * 2.0 * model_.config().head_inputs() * classes_;
  }

  std::unique_ptr<MoeModel<float>> owned_;
  MoeModel<float>& model_;
  TokenDataset test_;
  int batch_;
  SoftMoeShape shape_;
  int classes_;
  SelectionWorkspace ws_;
  Buffer<float> y_, logits_;
  const float* head_weight_ = nullptr;
  const float* head_bias_ = nullptr;
};

LoadedRun load_run(const SpecializeConfig& c) {
  const fs::path dir = c.run;
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) throw UsageError(fmt::format("--run {}: no such run directory", dir.string()));
  if (!fs::is_regular_file(dir / "config.json", ec) || !fs::is_regular_file(dir / "model.safetensors", ec))
    throw UsageError(fmt::format("--run {}: not a softmoe train run (needs config.json and model.safetensors)",
                                 dir.string()));
  LoadedRun run;
  json::Value config;
  try {
    config = json::parse(read_text(dir / "config.json"));
  } catch (const std::exception& e) {
    throw UsageError(fmt::format("--run {}: {}", dir.string(), e.what()));
  }
  const json::Value* model = config.find("model");
  if (model && *model == json::Value("vit")) {
    run.vit = true;
    run.evaluator = load_vit_evaluator(dir.string(), config, c.data_dir, c.batch);
  } else {
    std::unique_ptr<MoeModel<float>> loaded;
    std::string dataset, data_dir;
    try {
      dataset = config.at("dataset").as_string();
      data_dir = config.at("data_dir").as_string();
      const MoeModelConfig stated =
          moe_model_config_from_json(config.at("architecture"), (dir / "config.json").string());
      const auto file = SafetensorsFile::read(dir / "model.safetensors", /*require_checksum=*/true);
      const MoeModelConfig stored = checkpoint_model_config(file);
      if (json::serialize(to_json(stated)) != json::serialize(to_json(stored)))
        throw RunError(fmt::format("{}: holds another model than config.json: {} vs {}",
                                   (dir / "model.safetensors").string(), json::serialize(to_json(stored)),
                                   json::serialize(to_json(stated))));
      loaded = std::make_unique<MoeModel<float>>(stored, c.batch);
      load_parameters(file, loaded->params());
    } catch (const std::exception& e) {
      throw UsageError(fmt::format("--run {}: {}", dir.string(), e.what()));
    }
    const ImageSplits splits = load_image_dataset(dataset, c.data_dir.empty() ? data_dir : c.data_dir);
    run.evaluator = std::make_unique<Specializer>(std::move(loaded), paper_mnist_tokens(splits.test, splits.source_dir),
                                                  c.batch);
  }
  if (fs::is_regular_file(dir / "train.csv", ec)) run.reported_accuracy = last_test_accuracy(dir / "train.csv");
  return run;
}

std::vector<std::string> split_list(const std::string& text) {
  std::vector<std::string> items;
  std::stringstream stream(text);
  for (std::string item; std::getline(stream, item, ',');) items.push_back(item);
  return items;
}

bool wants(const std::vector<std::string>& methods, const std::string& method) {
  return std::find(methods.begin(), methods.end(), method) != methods.end();
}

std::string optional_number(const std::optional<double>& value) { return value ? csv_number(*value) : ""; }

std::string results_csv(const std::vector<Row>& rows, int experts, int threads) {
  CsvTable table({"experts", "k", "method", "trial", "accuracy", "accuracy_std", "n_trials", "inputs",
                  "expert_flops", "total_flops", "seconds", "threads", "topk_is_oracle"});
  for (const auto& r : rows)
    table.add_row({std::to_string(experts), std::to_string(r.k), r.method, r.trial, csv_number(r.accuracy),
                   optional_number(r.accuracy_std), std::to_string(r.n_trials), std::to_string(r.inputs),
                   csv_number(std::round(r.work.expert / r.inputs)), csv_number(std::round(r.work.total / r.inputs)),
                   fmt::format("{:.4f}", r.seconds), std::to_string(threads), optional_number(r.topk_is_oracle)});
  return table.str();
}

void print_summary(const std::vector<Row>& rows, const std::vector<int>& ks, const LoadedRun& run) {
  const auto find = [&](const std::string& method, int k) -> const Row* {
    for (const auto& r : rows)
      if (r.method == method && r.k == k && r.trial == "all") return &r;
    return nullptr;
  };
  const int n = run.evaluator->experts();
  if (const Row* all = find("all", n))
    fmt::print("all {} experts: accuracy {:.4f}{} in {:.3f} s\n", n, all->accuracy,
               run.reported_accuracy ? fmt::format(" (train.csv reported {:.4f})", *run.reported_accuracy) : "",
               all->seconds);
  fmt::print("{:>5} {:>8} {:>8} {:>17} {:>8} {:>9} {:>9} {:>9}\n", "k", "topk", "renorm", "random (mean±sd)",
             "oracle", "topk/orc", "topk_s", "MFLOP/in");
  for (int k : ks) {
    const Row* top = find("topk", k);
    const Row* renorm = find("topk-renorm", k);
    const Row* random = find("random", k);
    const Row* oracle = find("oracle", k);
    const auto cell = [](const Row* row) { return row ? fmt::format("{:.4f}", row->accuracy) : std::string("-"); };
    fmt::print("{:>5} {:>8} {:>8} {:>17} {:>8} {:>9} {:>9} {:>9}\n", k, cell(top), cell(renorm),
               random ? fmt::format("{:.4f}±{:.4f}", random->accuracy, random->accuracy_std.value_or(0.0)) : "-",
               cell(oracle), oracle && oracle->topk_is_oracle ? fmt::format("{:.4f}", *oracle->topk_is_oracle) : "-",
               top ? fmt::format("{:.3f}", top->seconds) : "-",
               top ? fmt::format("{:.2f}", top->work.total / top->inputs / 1e6) : "-");
  }
}

}  // namespace

void validate(const SpecializeConfig& c) {
  const auto require = [](bool ok, const std::string& message) {
    if (!ok) throw UsageError(message);
  };
  require(!c.run.empty(), "--run: give a run directory of `softmoe train`");
  const auto methods = split_list(c.methods);
  require(!methods.empty(), "--methods: give at least one method");
  for (const auto& m : methods)
    require(wants(kMethods, m), fmt::format("--methods: unknown method '{}' (choose from all, topk, topk-renorm, "
                                            "random, oracle)", m));
  require(c.random_trials >= 1, fmt::format("--random-trials: must be at least 1 (got {})", c.random_trials));
  require(std::isfinite(c.oracle_budget) && c.oracle_budget >= 0,
          fmt::format("--oracle-budget: must be a non-negative number (got {})", c.oracle_budget));
  require(c.oracle_inputs >= 1, fmt::format("--oracle-inputs: must be at least 1 (got {})", c.oracle_inputs));
  require(c.batch >= 1, fmt::format("--batch: must be at least 1 (got {})", c.batch));
  require(c.threads >= 1 && c.threads <= 256, fmt::format("--threads: must be in 1..256 (got {})", c.threads));
}

int run_specialize(const SpecializeConfig& c) {
  validate(c);
  const std::string out = c.out.empty() ? (fs::path(c.run) / "specialize.csv").string() : c.out;
  kernels::set_blas_threads(c.threads);
  LoadedRun run = load_run(c);
  SubsetEvaluator& evaluator = *run.evaluator;
  const int n = evaluator.experts();
  const std::vector<int> ks = parse_k_list(c.k, n);
  check_writable_output(out, "--out");
  auto methods = split_list(c.methods);
  if (!evaluator.has_oracle() && wants(methods, "oracle")) {
    // The default list skips it with a message; asking for it is an error.
    if (c.methods != SpecializeConfig{}.methods)
      throw UsageError("--methods: oracle needs a model that is linear after its one Soft MoE layer (paper-mnist); "
                       "a ViT is not");
    if (!c.quiet) fmt::print(stderr, "oracle: skipped, the ViT is not linear after its Soft MoE layers\n");
    methods.erase(std::remove(methods.begin(), methods.end(), "oracle"), methods.end());
  }
  const auto log = [&](const Row& r) {
    if (!c.quiet)
      fmt::print(stderr, "{} k={}: accuracy {:.4f}{} on {} inputs ({:.2f} s{})\n", r.method, r.k, r.accuracy,
                 r.accuracy_std ? fmt::format(" ± {:.4f}", *r.accuracy_std) : "", r.inputs, r.seconds,
                 r.n_trials > 1 ? " per trial" : "");
  };

  std::vector<Row> rows;
  if (wants(methods, "all")) log(rows.emplace_back(evaluator.all_experts()));
  for (int k : ks) {
    if (wants(methods, "topk")) log(rows.emplace_back(evaluator.selected("topk", k, nullptr)));
    if (wants(methods, "topk-renorm")) log(rows.emplace_back(evaluator.selected("topk-renorm", k, nullptr)));
    if (wants(methods, "random")) {
      double sum = 0, sum_sq = 0;
      Row aggregate("random", k);
      for (int trial = 0; trial < c.random_trials; ++trial) {
        Rng rng(static_cast<std::uint64_t>(trial), Stream::selection);
        Row r = evaluator.selected("random", k, &rng);
        r.trial = std::to_string(trial);
        sum += r.accuracy;
        sum_sq += r.accuracy * r.accuracy;
        aggregate.seconds += r.seconds;
        aggregate.work = r.work;
        aggregate.inputs = r.inputs;
        rows.push_back(r);
      }
      const int t = c.random_trials;
      aggregate.accuracy = sum / t;
      aggregate.accuracy_std = t > 1 ? std::sqrt(std::max(0.0, (sum_sq - t * aggregate.accuracy * aggregate.accuracy) / (t - 1))) : 0.0;
      aggregate.n_trials = t;
      aggregate.seconds /= t;
      log(rows.emplace_back(aggregate));
    }
    if (wants(methods, "oracle")) {
      const double subsets = binomial(n, k);
      int inputs = evaluator.test_count();
      if (subsets * inputs > c.oracle_budget) inputs = std::min(c.oracle_inputs, evaluator.test_count());
      if (subsets * inputs > c.oracle_budget) {
        if (!c.quiet)
          fmt::print(stderr, "oracle k={}: skipped, C({}, {}) = {:.3g} subsets x {} inputs exceeds --oracle-budget {:.3g}\n",
                     k, n, k, subsets, inputs, c.oracle_budget);
      } else {
        log(rows.emplace_back(evaluator.oracle(k, inputs)));
      }
    }
  }
  atomic_write(out, results_csv(rows, n, c.threads));
  print_summary(rows, ks, run);
  fmt::print("wrote {}\n", out);
  return 0;
}

}  // namespace softmoe
