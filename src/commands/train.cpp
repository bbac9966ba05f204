#include "softmoe/commands/train.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <functional>
#include <numeric>

#include <fmt/format.h>

#include "softmoe/data/image_dataset.hpp"
#include "softmoe/data/subset.hpp"
#include "softmoe/errors.hpp"
#include "softmoe/io/atomic_write.hpp"
#include "softmoe/io/checkpoint.hpp"
#include "softmoe/io/csv.hpp"
#include "softmoe/io/json.hpp"
#include "softmoe/provenance.hpp"
#include "softmoe/threads.hpp"
#include "softmoe/data/paper_mnist.hpp"
#include "softmoe/rng.hpp"
#include "softmoe/train/classification.hpp"
#include "softmoe/train/progress.hpp"
#include "softmoe/train/augment.hpp"
#include "softmoe/train/schedule.hpp"
#include "softmoe/train/train_state.hpp"
#include "routing_log.hpp"
#include "train_csv.hpp"
#include "train_models.hpp"

namespace softmoe {
namespace fs = std::filesystem;
namespace {

constexpr const char* kRunFiles[] = {"model.safetensors", "optimizer.safetensors", "train.csv", "config.json",
                                     "routing.csv"};
void require(bool ok, const std::string& message) {
  if (!ok) throw UsageError(message);
}

OptimizerConfig optimizer_config(const TrainRecipe& r) {
  OptimizerConfig o;
  o.kind = r.optimizer;
  o.lr = r.lr;
  o.weight_decay = r.weight_decay;
  o.momentum = r.momentum;
  return o;
}

// Everything that decides the run's results (so everything a resumed run must share), as JSON. The
// paper-mnist keys are those of runs written before --model vit existed, so that they still resume.
json::Value settings_json(const TrainConfig& c, const TrainRecipe& r, const std::string& data_dir,
                          const json::Value& architecture) {
  json::Value o = json::Value::object();
  o["dataset"] = to_string(c.dataset);
  o["data_dir"] = data_dir;
  o["model"] = to_string(c.model);
  o["architecture"] = architecture;
  o["optimizer"] = to_string(r.optimizer);
  o["lr"] = r.lr;
  o["weight_decay"] = r.weight_decay;
  o["momentum"] = r.momentum;
  o["batch"] = r.batch;
  o["seed"] = c.seed;
  o["shuffle"] = r.shuffle;
  o["threads"] = c.threads;
  if (c.log_routing) o["log_routing"] = true;
  if (c.train_size) o["train_size"] = *c.train_size;
  if (c.val_size > 0) o["val_size"] = c.val_size;
  if (c.epoch_updates) o["epoch_updates"] = *c.epoch_updates;
  if (c.eval_train) o["eval_train"] = true;
  if (c.model != ModelKind::paper_mnist || r.schedule != Schedule::constant || r.label_smoothing != 0) {
    o["schedule"] = to_string(r.schedule);
    o["warmup"] = r.warmup;
    o["label_smoothing"] = r.label_smoothing;
    o["shift"] = r.shift;
    // The cosine schedule spans the planned epochs: a resumed run must plan the same number.
    if (r.schedule == Schedule::cosine) o["epochs"] = r.epochs;
  }
  return o;
}

// The first setting in which a resumed command differs from the run it resumes.
std::string first_difference(const json::Value& stored, const json::Value& current) {
  for (const auto& [key, value] : current.items()) {
    const json::Value* old = json::find(stored, key);
    if (!old) return fmt::format("{} is new", key);
    if (*old != value)
      return fmt::format("it was started with {} = {}, this command has {}", key, json::serialize(*old),
                         json::serialize(value));
  }
  for (const auto& [key, value] : stored.items())
    if (!json::find(current, key))
      return fmt::format("it was started with {} = {}, this command has none", key, json::serialize(value));
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

// One pass over the training images: file order, or reshuffled per pass.
std::vector<std::int32_t> pass_order(const TrainConfig& c, const TrainRecipe& r, int count, long pass) {
  std::vector<std::int32_t> order(static_cast<std::size_t>(count));
  std::iota(order.begin(), order.end(), 0);
  if (r.shuffle) {
    Rng rng(static_cast<std::uint64_t>(c.seed) ^ (static_cast<std::uint64_t>(pass) << 40), Stream::shuffle);
    rng.shuffle(order.begin(), order.end());
  }
  return order;
}

// The examples of an epoch: pass `epoch`, or with --epoch-updates U the U x batch examples that follow
// those of the earlier epochs in the sequence of passes 1, 2, ...
std::vector<std::int32_t> epoch_order(const TrainConfig& c, const TrainRecipe& r, int count, int epoch) {
  if (!c.epoch_updates) return pass_order(c, r, count, epoch);
  const long length = static_cast<long>(*c.epoch_updates) * r.batch;
  long position = (epoch - 1) * length;  // in the sequence of passes
  std::vector<std::int32_t> order;
  order.reserve(static_cast<std::size_t>(length));
  while (static_cast<long>(order.size()) < length) {
    const long pass = position / count + 1;
    const std::vector<std::int32_t> examples = pass_order(c, r, count, pass);
    const long from = position % count, take = std::min<long>(count - from, length - static_cast<long>(order.size()));
    order.insert(order.end(), examples.begin() + from, examples.begin() + from + take);
    position += take;
  }
  return order;
}

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

}  // namespace

TrainResult run_train(const TrainConfig& c) {
  validate(c);
  check_run_directory(c);
  const TrainRecipe r = resolve_recipe(c);
  use_threads(c.threads);
  const fs::path dir = c.out;

  ImageSplits splits = load_image_dataset(c.dataset, c.data_dir);
  choose_training_images(splits, c.train_size, c.val_size, static_cast<std::uint64_t>(c.seed));
  TrainedModel model = build_trained_model(c, r, splits);
  const TokenDataset& train = model.train;
  const TokenDataset& test = model.test;
  Model<float>& classifier = *model.model;
  model.init(c.seed);
  Optimizer<float> optimizer(optimizer_config(r), classifier.params().size());

  const json::Value settings = settings_json(c, r, splits.source_dir, model.architecture);
  TrainResult result;
  result.dir = dir.string();
  result.expert_hidden = model.expert_hidden;
  result.parameters = static_cast<long>(classifier.params().size());
  result.expert_parameters = static_cast<long>(classifier.expert_param_count());
  result.train_images = train.count;
  result.validation_images = model.validation.count;
  const bool routed = classifier.routing_counts() != nullptr;
  const std::string header = csv_row(train_csv_header(c, routed));
  TrainProgress progress{0, json::serialize(settings), header};

  // The schedule and the augmentation depend only on the update count and the epoch, so a resumed run
  // continues them exactly.
  const long steps_per_epoch = c.epoch_updates ? *c.epoch_updates : (train.count + r.batch - 1) / r.batch;
  EpochRecipe recipe;
  recipe.label_smoothing = r.label_smoothing;
  if (r.schedule == Schedule::cosine) {
    const long warmup_steps = std::lround(r.warmup * steps_per_epoch), total_steps = steps_per_epoch * r.epochs;
    recipe.lr = [&r, warmup_steps, total_steps](long step) { return cosine_lr(r.lr, step, warmup_steps, total_steps); };
  }
  const auto lr_of_epoch = [&](int epoch) {  // the learning rate of the epoch's last update
    return recipe.lr ? recipe.lr(epoch * steps_per_epoch - 1) : r.lr;
  };

  if (c.resume) {
    const TrainProgress stored = load_train_state(dir / "optimizer.safetensors", classifier.params(), optimizer);
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
    result.epochs = epoch_rows(stored.csv, dir / "optimizer.safetensors", c, routed, lr_of_epoch);
    if (stored.csv.compare(0, header.size(), header) != 0) {  // a run from before train.csv had lr
      progress.csv = header;
      for (const EpochRow& row : result.epochs) progress.csv += epoch_csv_row(row, c.threads);
    }
    // A run killed between the writes of one epoch's files: make them all agree with the state again.
    model.save_checkpoint(dir / "model.safetensors", progress.epoch);
    atomic_write(dir / "train.csv", progress.csv);
  }

  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) throw RunError(fmt::format("{}: cannot create the run directory: {}", dir.string(), ec.message()));
  // config.json: the settings above, every other resolved setting, sizes and provenance.
  json::Value config_file = settings;
  config_file["schedule"] = to_string(r.schedule);  // keys already there keep their place and value
  config_file["warmup"] = r.warmup;
  config_file["label_smoothing"] = r.label_smoothing;
  config_file["shift"] = r.shift;
  config_file["epochs"] = r.epochs;
  config_file["parameters"] = result.parameters;
  config_file["expert_parameters"] = result.expert_parameters;
  config_file["softmoe_version"] = SOFTMOE_VERSION;
  config_file["command_line"] = c.invocation;
  if (!build_commit().empty()) config_file["git_commit"] = build_commit();
  config_file["started_utc"] = utc_timestamp();

  config_file["train_images"] = result.train_images;
  config_file["validation_images"] = result.validation_images;
  atomic_write(dir / "config.json", json::serialize(config_file, 2) + "\n");

  std::unique_ptr<Rng> shift_rng;
  if (r.shift > 0) {
    recipe.augment = [&, rows = model.image_rows, cols = model.image_cols](float* images, int count) {
      random_shift(images, count, rows, cols, r.shift, *shift_rng, model.fill);
    };
  }

  std::optional<RoutingLog> routing_log;
  if (c.log_routing) {
    routing_log.emplace(dir / "routing.csv", to_string(c.routing.router), c.threads);
    if (c.resume) routing_log->resume(progress.epoch, classifier, test);
    else routing_log->start(classifier, test);
  }

  const int epoch_examples = c.epoch_updates ? static_cast<int>(steps_per_epoch * r.batch) : train.count;
  Progress report(c.quiet, r.epochs, epoch_examples);
  if (progress.epoch >= r.epochs)
    report.message(fmt::format("{} already holds {} completed epochs; nothing to do", dir.string(), progress.epoch));
  EpochMetrics tested{};
  for (int epoch = progress.epoch + 1; epoch <= r.epochs; ++epoch) {
    const auto order = epoch_order(c, r, train.count, epoch);
    shift_rng = std::make_unique<Rng>(static_cast<std::uint64_t>(c.seed) ^ (static_cast<std::uint64_t>(epoch) << 40),
                                      Stream::data);
    // router noise: one stream per (seed, epoch), like the shuffles, so a resumed run draws the same
    classifier.set_training(true, static_cast<std::uint64_t>(c.seed) ^ (static_cast<std::uint64_t>(epoch) << 40));
    classifier.reset_routing_counts();
    const auto train_start = std::chrono::steady_clock::now();
    const EpochMetrics trained = train_classifier_epoch(
        classifier, optimizer, train, order, [&](int done, double loss) { report.update(epoch, done, loss); }, recipe);
    const double train_seconds = seconds_since(train_start);
    std::optional<RoutingColumns> routing;
    if (routed) routing = RoutingColumns{0, 0, 0, 0, classifier.routing_counts()->mean_aux_loss()};
    classifier.set_training(false, 0);
    classifier.reset_routing_counts();
    const auto eval_start = std::chrono::steady_clock::now();
    tested = evaluate_classifier(classifier, test);
    const double eval_seconds = seconds_since(eval_start);
    std::optional<EpochMetrics> validation, fit;
    if (model.validation.count > 0) validation = evaluate_classifier(classifier, model.validation);
    if (c.eval_train) fit = evaluate_classifier(classifier, train);
    if (routed) {
      const RoutingCounts& counts = *classifier.routing_counts();
      routing->drop_rate = counts.drop_rate();
      routing->capacity_factor = counts.realised_capacity_factor();
      routing->tokens_per_expert_min = counts.min_per_expert;
      routing->tokens_per_expert_max = counts.max_per_expert;
    }

    progress.epoch = epoch;
    const EpochRow row{epoch,         trained.loss, trained.accuracy, tested.loss, tested.accuracy,
                       train_seconds, eval_seconds, epoch_examples / train_seconds, lr_of_epoch(epoch),
                       validation,    fit,          routing};
    result.epochs.push_back(row);
    progress.csv += epoch_csv_row(row, c.threads);
    if (routing_log) routing_log->record(epoch, classifier, test);  // before the state: see routing_log.hpp
    save_train_state(dir / "optimizer.safetensors", classifier.params(), optimizer, progress);
    model.save_checkpoint(dir / "model.safetensors", epoch);
    atomic_write(dir / "train.csv", progress.csv);
    report.epoch_done(epoch, fmt::format("train loss {:.4f} acc {:.4f} | test loss {:.4f} acc {:.4f} | {:.1f} s, "
                                         "{:.0f} samples/s",
                                         trained.loss, trained.accuracy, tested.loss, tested.accuracy, train_seconds,
                                         epoch_examples / train_seconds));
  }
  if (progress.epoch == r.epochs && tested.accuracy > 0)
    fmt::print("test accuracy {:.4f} after {} epochs ({}, {} thread(s)); wrote {}\n", tested.accuracy, r.epochs,
               model.description, c.threads, dir.string());
  return result;
}

}  // namespace softmoe
