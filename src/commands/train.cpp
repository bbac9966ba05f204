#include "softmoe/commands/train.hpp"

#include <chrono>
#include <cmath>
#include <filesystem>
#include <numeric>

#include <fmt/format.h>

#include "softmoe/data/image_dataset.hpp"
#include "softmoe/errors.hpp"
#include "softmoe/io/atomic_write.hpp"
#include "softmoe/io/checkpoint.hpp"
#include "softmoe/io/csv.hpp"
#include "softmoe/io/json.hpp"
#include "softmoe/kernels/gemm.hpp"
#include "softmoe/models/paper_mnist.hpp"
#include "softmoe/rng.hpp"
#include "softmoe/train/classification.hpp"
#include "softmoe/train/progress.hpp"
#include "softmoe/train/train_state.hpp"

namespace softmoe {
namespace fs = std::filesystem;
namespace {

constexpr const char* kRunFiles[] = {"model.safetensors", "optimizer.safetensors", "train.csv", "config.json"};
const std::vector<std::string> kCsvHeader{"epoch",       "train_loss",    "train_accuracy",     "test_loss",
                                          "test_accuracy", "train_seconds", "eval_seconds",
                                          "samples_per_second", "threads"};

void require(bool ok, const std::string& message) {
  if (!ok) throw UsageError(message);
}

OptimizerConfig optimizer_config(const TrainConfig& c) {
  OptimizerConfig o;
  o.kind = parse_optimizer(c.optimizer);
  o.lr = c.lr;
  o.weight_decay = c.weight_decay;
  o.momentum = c.momentum;
  return o;
}

// Everything that decides the run's results (so everything a resumed run must share), as JSON.
json::Value settings_json(const TrainConfig& c, const std::string& data_dir, const MoeModelConfig& model) {
  json::Object o;
  o.emplace_back("dataset", c.dataset);
  o.emplace_back("data_dir", data_dir);
  o.emplace_back("model", c.model);
  o.emplace_back("architecture", to_json(model));
  o.emplace_back("optimizer", c.optimizer);
  o.emplace_back("lr", c.lr);
  o.emplace_back("weight_decay", c.weight_decay);
  o.emplace_back("momentum", c.momentum);
  o.emplace_back("batch", c.batch);
  o.emplace_back("seed", c.seed);
  o.emplace_back("shuffle", c.shuffle);
  o.emplace_back("threads", c.threads);
  return json::Value(std::move(o));
}

// The first setting in which a resumed command differs from the run it resumes.
std::string first_difference(const json::Value& stored, const json::Value& current) {
  for (const auto& [key, value] : current.as_object()) {
    const json::Value* old = stored.find(key);
    if (!old) return fmt::format("{} is new", key);
    if (*old != value)
      return fmt::format("it was started with {} = {}, this command has {}", key, json::serialize(*old),
                         json::serialize(value));
  }
  return "the settings differ";
}

// Refuses a run directory that cannot be used, before any work; creates nothing.
void check_run_directory(const TrainConfig& c) {
  const fs::path dir = c.out;
  std::error_code ec;
  if (c.resume) {
    require(fs::is_regular_file(dir / "optimizer.safetensors", ec),
            fmt::format("--resume: {} holds no optimizer.safetensors to resume from", dir.string()));
    check_writable_output(dir / "train.csv", "--out");
    return;
  }
  for (const char* name : kRunFiles)
    require(!fs::exists(dir / name, ec),
            fmt::format("--out {}: already holds a run ({}); pass --resume to continue it or choose another directory",
                        dir.string(), name));
  if (fs::exists(dir, ec)) {
    require(fs::is_directory(dir, ec), fmt::format("--out {}: exists and is not a directory", dir.string()));
    check_writable_output(dir / "train.csv", "--out");
  } else {
    const fs::path parent = dir.has_parent_path() ? dir.parent_path() : fs::path(".");
    require(fs::is_directory(parent, ec),
            fmt::format("--out {}: directory {} does not exist", dir.string(), parent.string()));
    check_writable_output(parent / dir.filename(), "--out");
  }
}

std::vector<std::int32_t> epoch_order(const TrainConfig& c, int count, int epoch) {
  std::vector<std::int32_t> order(static_cast<std::size_t>(count));
  std::iota(order.begin(), order.end(), 0);
  if (c.shuffle) {
    Rng rng(static_cast<std::uint64_t>(c.seed) ^ (static_cast<std::uint64_t>(epoch) << 40), Stream::shuffle);
    rng.shuffle(order.begin(), order.end());
  }
  return order;
}

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

}  // namespace

MoeModelConfig paper_mnist_model(const TrainConfig& c) {
  MoeModelConfig m;
  m.moe.tokens = (kPaperImageSide / kPaperPatch) * (kPaperImageSide / kPaperPatch);
  m.moe.dim = kPaperPatch * kPaperPatch;
  m.moe.experts = c.experts;
  m.moe.slots = c.slots;
  m.moe.hidden = c.expert_hidden > 0 ? c.expert_hidden : (kPaperImageSide * kPaperImageSide) / c.experts;
  m.moe.dim_out = m.moe.dim;
  m.moe.expert_bias = c.expert_bias;
  m.moe.activation = parse_activation(c.activation);
  m.moe.normalize = parse_normalize(c.normalize);
  m.outputs = kPaperClasses;
  m.head_bias = false;
  m.phi_init = parse_phi_init(c.phi_init);
  return m;
}

void validate(const TrainConfig& c) {
  require(c.model == "paper-mnist", fmt::format("--model: unknown model '{}' (expected paper-mnist)", c.model));
  require(c.experts >= 1, fmt::format("--experts: must be at least 1 (got {})", c.experts));
  require(c.expert_hidden >= 0, fmt::format("--expert-hidden: must be 0 (automatic) or positive (got {})",
                                            c.expert_hidden));
  require(c.expert_hidden > 0 || c.experts <= kPaperImageSide * kPaperImageSide,
          fmt::format("--experts {}: int(784 / n) is 0; give --expert-hidden", c.experts));
  require(c.slots >= 1, fmt::format("--slots: must be at least 1 (got {})", c.slots));
  require(std::isfinite(c.lr) && c.lr > 0, fmt::format("--lr: must be a positive number (got {})", c.lr));
  require(std::isfinite(c.weight_decay) && c.weight_decay >= 0,
          fmt::format("--weight-decay: must be non-negative (got {})", c.weight_decay));
  require(std::isfinite(c.momentum) && c.momentum >= 0 && c.momentum < 1,
          fmt::format("--momentum: must be in [0, 1) (got {})", c.momentum));
  require(c.batch >= 1, fmt::format("--batch: must be at least 1 (got {})", c.batch));
  require(c.epochs >= 1, fmt::format("--epochs: must be at least 1 (got {})", c.epochs));
  require(c.seed >= 0, fmt::format("--seed: must be non-negative (got {})", c.seed));
  require(c.threads >= 1 && c.threads <= 256, fmt::format("--threads: must be in 1..256 (got {})", c.threads));
  require(!c.out.empty(), "--out: give the run directory");
}

int run_train(const TrainConfig& c) {
  validate(c);
  check_run_directory(c);
  kernels::set_blas_threads(c.threads);
  const fs::path dir = c.out;

  const ImageSplits splits = load_image_dataset(c.dataset, c.data_dir);
  const TokenDataset train = paper_mnist_tokens(splits.train, splits.source_dir);
  const TokenDataset test = paper_mnist_tokens(splits.test, splits.source_dir);

  const MoeModelConfig architecture = paper_mnist_model(c);
  MoeModel<float> model(architecture, c.batch);
  Rng init_rng(static_cast<std::uint64_t>(c.seed), Stream::init);
  model.init(init_rng);
  Optimizer<float> optimizer(optimizer_config(c), model.params().size());

  const json::Value settings = settings_json(c, splits.source_dir, architecture);
  TrainProgress progress{0, json::serialize(settings), csv_row(kCsvHeader)};
  if (c.resume) {
    const TrainProgress stored = load_train_state(dir / "optimizer.safetensors", model.params(), optimizer);
    json::Value stored_settings;
    try {
      stored_settings = json::parse(stored.settings);
    } catch (const std::exception& e) {
      throw RunError(fmt::format("{}: invalid settings: {}", (dir / "optimizer.safetensors").string(), e.what()));
    }
    require(stored_settings == settings,
            fmt::format("--resume {}: {}", dir.string(), first_difference(stored_settings, settings)));
    progress.epoch = stored.epoch;
    progress.csv = stored.csv;
    // A run killed between the writes of one epoch's files: make them all agree with the state again.
    save_model_checkpoint(dir / "model.safetensors", model, {{"epoch", std::to_string(progress.epoch)}});
    atomic_write(dir / "train.csv", progress.csv);
  }

  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) throw RunError(fmt::format("{}: cannot create the run directory: {}", dir.string(), ec.message()));
  json::Value config_file = settings;
  config_file.set("epochs", c.epochs);
  config_file.set("parameters", static_cast<long>(model.params().size()));
  config_file.set("expert_parameters", static_cast<long>(model.expert_param_count()));
  config_file.set("softmoe_version", SOFTMOE_VERSION);
  atomic_write(dir / "config.json", json::serialize(config_file, 2) + "\n");

  Progress report(c.quiet, c.epochs, train.count);
  if (progress.epoch >= c.epochs)
    report.message(fmt::format("{} already holds {} completed epochs; nothing to do", dir.string(), progress.epoch));
  EpochMetrics tested{};
  for (int epoch = progress.epoch + 1; epoch <= c.epochs; ++epoch) {
    const auto order = epoch_order(c, train.count, epoch);
    const auto train_start = std::chrono::steady_clock::now();
    const EpochMetrics trained = train_classifier_epoch(model, optimizer, train, order,
                                                        [&](int done, double loss) { report.update(epoch, done, loss); });
    const double train_seconds = seconds_since(train_start);
    const auto eval_start = std::chrono::steady_clock::now();
    tested = evaluate_classifier(model, test);
    const double eval_seconds = seconds_since(eval_start);

    progress.epoch = epoch;
    progress.csv += csv_row({std::to_string(epoch), csv_number(trained.loss), csv_number(trained.accuracy),
                             csv_number(tested.loss), csv_number(tested.accuracy),
                             fmt::format("{:.3f}", train_seconds), fmt::format("{:.3f}", eval_seconds),
                             fmt::format("{:.1f}", train.count / train_seconds), std::to_string(c.threads)});
    save_train_state(dir / "optimizer.safetensors", model.params(), optimizer, progress);
    save_model_checkpoint(dir / "model.safetensors", model, {{"epoch", std::to_string(epoch)}});
    atomic_write(dir / "train.csv", progress.csv);
    report.epoch_done(epoch, fmt::format("train loss {:.4f} acc {:.4f} | test loss {:.4f} acc {:.4f} | {:.1f} s, "
                                         "{:.0f} samples/s",
                                         trained.loss, trained.accuracy, tested.loss, tested.accuracy, train_seconds,
                                         train.count / train_seconds));
  }
  if (progress.epoch == c.epochs && tested.accuracy > 0)
    fmt::print("test accuracy {:.4f} after {} epochs ({} experts of hidden {}, {} thread(s)); wrote {}\n",
               tested.accuracy, c.epochs, architecture.moe.experts, architecture.moe.hidden, c.threads, dir.string());
  return 0;
}

}  // namespace softmoe
