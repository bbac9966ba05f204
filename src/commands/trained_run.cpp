#include "trained_run.hpp"

#include <filesystem>
#include <fstream>
#include <sstream>

#include <fmt/format.h>

#include "softmoe/data/image_dataset.hpp"
#include "softmoe/data/normalized_images.hpp"
#include "softmoe/data/paper_mnist.hpp"
#include "softmoe/data/subset.hpp"
#include "softmoe/errors.hpp"
#include "softmoe/io/checkpoint.hpp"
#include "softmoe/models/moe_model_io.hpp"
#include "softmoe/models/routed_model_io.hpp"
#include "softmoe/io/json.hpp"
#include "softmoe/models/vit_io.hpp"

namespace softmoe {
namespace fs = std::filesystem;
namespace {

std::string read_text(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

std::optional<double> last_value(const fs::path& csv, const std::string& column) {
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
    if (names[i] == column) return std::stod(values[i]);
  return std::nullopt;
}

struct Source {
  Dataset dataset = Dataset::mnist;
  std::string data_dir;
};

// config.json's dataset and data directory.
Source run_source(const json::Value& config) {
  return {value_named(json::as_string(json::at(config, "dataset")), kDatasetNames, "dataset"),
          json::as_string(json::at(config, "data_dir"))};
}

// RunError unless the checkpoint holds the model config.json describes (both as written by to_json).
void check_same_model(const fs::path& dir, const json::Value& stated, const json::Value& stored) {
  if (json::serialize(stated) != json::serialize(stored))
    throw RunError(fmt::format("{}: holds another model than config.json: {} vs {}", (dir / "model.safetensors").string(),
                               json::serialize(stored), json::serialize(stated)));
}

// The paper's model.
TrainedRun load_paper_run(const fs::path& dir, const json::Value& config, const SafetensorsFile& file, int batch) {
  const MoeModelConfig stored = checkpoint_model_config(file);
  check_same_model(dir, to_json(moe_model_config_from_json(json::at(config, "architecture"), (dir / "config.json").string())),
                   to_json(stored));
  TrainedRun run;
  auto model = std::make_unique<MoeModel<float>>(stored, batch);
  load_parameters(file, model->params());
  run.paper = model.get();
  run.router = to_string(stored.moe.mixing);
  run.subsets = stored.moe.mixing == Mixing::soft;
  run.model = std::move(model);
  return run;
}

// The paper's model with a sparse router.
TrainedRun load_routed_run(const fs::path& dir, const json::Value& config, const SafetensorsFile& file, int batch) {
  const RoutedModelConfig stored = checkpoint_routed_model_config(file);
  check_same_model(dir,
                   to_json(routed_model_config_from_json(json::at(config, "architecture"), (dir / "config.json").string())),
                   to_json(stored));
  TrainedRun run;
  auto model = std::make_unique<RoutedMoeModel<float>>(stored, batch);
  load_parameters(file, model->params());
  run.sparse_experts = stored.moe.experts;
  run.router = to_string(stored.moe.routing);
  run.subsets = false;
  run.model = std::move(model);
  return run;
}

// A ViT with experts, and the normalisation of its training images.
TrainedRun load_vit_run(const fs::path& dir, const json::Value& config, const SafetensorsFile& file, int batch,
                        PixelStats& input) {
  const VitArchitecture stored = checkpoint_vit_architecture(file);
  check_same_model(dir, to_json(vit_architecture_from_json(json::at(config, "architecture"), (dir / "config.json").string())),
                   to_json(stored));
  if (stored.model.experts == 0)
    throw UsageError(fmt::format("--run {}: a dense ViT (--experts 0) has no experts to select", dir.string()));
  TrainedRun run;
  auto model = std::make_unique<VitModel<float>>(stored.model, batch);
  load_parameters(file, model->params());
  input = stored.input;
  run.router = to_string(stored.model.mixing);
  run.subsets = stored.model.mixing == Mixing::soft;
  if (stored.model.router) {
    run.sparse_experts = stored.model.experts;
    run.router = to_string(stored.model.router->routing);
    run.subsets = false;
  }
  run.model = std::move(model);
  return run;
}

}  // namespace

TrainedRun load_trained_run(const std::string& run_dir, const std::string& data_dir, int batch, EvalSplit split) {
  const fs::path dir = run_dir;
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) throw UsageError(fmt::format("--run {}: no such run directory", dir.string()));
  if (!fs::is_regular_file(dir / "config.json", ec) || !fs::is_regular_file(dir / "model.safetensors", ec))
    throw UsageError(fmt::format("--run {}: not a softmoe train run (needs config.json and model.safetensors)",
                                 dir.string()));
  json::Value config;
  try {
    config = json::parse(read_text(dir / "config.json"));
  } catch (const std::exception& e) {
    throw UsageError(fmt::format("--run {}: {}", dir.string(), e.what()));
  }
  Source source;
  PixelStats input;
  const bool vit = is_vit_architecture(config);  // config.json's "model", as in the architecture
  TrainedRun run;
  try {
    source = run_source(config);
    const auto file = SafetensorsFile::read(dir / "model.safetensors", /*require_checksum=*/true);
    // A sparse router's output depends on the images routed with it: evaluate in the batches train did,
    // so that the groups, and the accuracy train.csv reported, are the same.
    const bool grouped = is_routed_architecture(json::at(config, "architecture"));
    if (grouped) batch = static_cast<int>(json::as_int(json::at(config, "batch")));
    if (vit) run = load_vit_run(dir, config, file, batch, input);
    else if (grouped) run = load_routed_run(dir, config, file, batch);
    else run = load_paper_run(dir, config, file, batch);
    if (run.router.empty()) run.router = "soft";
  } catch (const UsageError&) {
    throw;
  } catch (const std::exception& e) {
    throw UsageError(fmt::format("--run {}: {}", dir.string(), e.what()));
  }

  ImageSplits splits = load_image_dataset(source.dataset, data_dir.empty() ? source.data_dir : data_dir);
  if (split == EvalSplit::train) {
    std::optional<int> train_size;
    int val_size = 0;
    long long seed = 0;
    try {
      if (const json::Value* v = json::find(config, "train_size")) train_size = static_cast<int>(json::as_int(*v));
      if (const json::Value* v = json::find(config, "val_size")) val_size = static_cast<int>(json::as_int(*v));
      seed = json::as_int(json::at(config, "seed"));
      choose_training_images(splits, train_size, val_size, static_cast<std::uint64_t>(seed));
    } catch (const std::exception& e) {
      throw UsageError(fmt::format("--run {}: its config.json cannot rebuild the training images: {}", dir.string(),
                                   e.what()));
    }
  }
  const ImageDataset& images = split == EvalSplit::train ? splits.train : splits.test;
  if (vit) {
    const auto& vit_model = static_cast<const VitModel<float>&>(*run.model);
    const VitConfig& c = vit_model.config();
    if (images.rows != c.rows || images.cols != c.cols)
      throw RunError(fmt::format("{}: images are {}x{}, the model reads {}x{}", splits.source_dir, images.rows,
                                 images.cols, c.rows, c.cols));
    run.data.count = images.count;
    run.data.x = normalized_images(images, static_cast<float>(input.mean), static_cast<float>(input.stddev));
    run.data.labels = images.labels;
  } else {
    run.data = paper_mnist_tokens(images, splits.source_dir);
  }
  if (fs::is_regular_file(dir / "train.csv", ec))
    run.reported_accuracy = last_value(dir / "train.csv", split == EvalSplit::test ? "test_accuracy" : "fit_accuracy");
  return run;
}

}  // namespace softmoe
