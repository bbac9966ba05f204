#include "train_models.hpp"

#include <fmt/format.h>

#include "softmoe/data/normalized_images.hpp"
#include "softmoe/errors.hpp"
#include "softmoe/io/checkpoint.hpp"
#include "softmoe/models/moe_model_io.hpp"
#include "softmoe/models/routed_model_io.hpp"
#include "softmoe/models/vit_io.hpp"
#include "softmoe/data/paper_mnist.hpp"
#include "softmoe/rng.hpp"

namespace softmoe {
namespace {

TokenDataset image_rows(const ImageDataset& images, const PixelStats& stats) {
  TokenDataset d;
  d.count = images.count;
  d.x = normalized_images(images, static_cast<float>(stats.mean), static_cast<float>(stats.stddev));
  d.labels = images.labels;
  return d;
}

}  // namespace

void TrainedModel::init(long long seed) {
  Rng rng(static_cast<std::uint64_t>(seed), Stream::init);
  model->init(rng);
}

void TrainedModel::save_checkpoint(const std::filesystem::path& path, int epoch) const {
  ::softmoe::save_checkpoint(path, model->params(), architecture, {{"epoch", std::to_string(epoch)}});
}

TrainedModel build_trained_model(const TrainConfig& c, const TrainRecipe& r, const ImageSplits& splits) {
  TrainedModel m;
  if (c.model == ModelKind::paper_mnist && c.routing.sparse()) {
    const RoutedModelConfig config = routed_paper_mnist_model(c);
    m.model = std::make_unique<RoutedMoeModel<float>>(config, r.batch);
    m.expert_hidden = config.moe.hidden;
    m.architecture = to_json(config);
    m.train = paper_mnist_tokens(splits.train, splits.source_dir);
    m.test = paper_mnist_tokens(splits.test, splits.source_dir);
    if (splits.validation.count > 0) m.validation = paper_mnist_tokens(splits.validation, splits.source_dir);
    m.description = config.moe.routed() ? fmt::format("{}, {} experts of hidden {}", to_string(config.moe.routing),
                                                      config.moe.experts, config.moe.hidden)
                                         : fmt::format("dense, one MLP of hidden {}", config.moe.hidden);
    return m;
  }
  if (c.model == ModelKind::paper_mnist) {
    const MoeModelConfig config = paper_mnist_model(c);
    auto paper = std::make_unique<MoeModel<float>>(config, r.batch);
    paper->moe_activations().store_slots = false;  // training and evaluation need no slot tensors
    m.model = std::move(paper);
    m.expert_hidden = config.moe.hidden;
    m.architecture = to_json(config);
    m.train = paper_mnist_tokens(splits.train, splits.source_dir);
    m.test = paper_mnist_tokens(splits.test, splits.source_dir);
    if (splits.validation.count > 0) m.validation = paper_mnist_tokens(splits.validation, splits.source_dir);
    m.description = fmt::format("{} experts of hidden {}{}", config.moe.experts, config.moe.hidden,
                                config.moe.mixing == Mixing::soft ? "" : fmt::format(", {}", to_string(config.moe.mixing)));
    return m;
  }
  if (splits.train.rows != kPaperImageSide || splits.train.cols != kPaperImageSide ||
      splits.test.rows != kPaperImageSide || splits.test.cols != kPaperImageSide)
    throw RunError(fmt::format("{}: --model vit reads 28 x 28 images", splits.source_dir));
  const VitConfig config = vit_model(c);
  const PixelStats stats = pixel_stats(splits.train);
  m.model = std::make_unique<VitModel<float>>(config, r.batch);
  m.expert_hidden = config.expert_width();
  m.architecture = to_json(VitArchitecture{config, stats});
  m.train = image_rows(splits.train, stats);
  m.test = image_rows(splits.test, stats);
  if (splits.validation.count > 0) m.validation = image_rows(splits.validation, stats);
  m.image_rows = config.rows;
  m.image_cols = config.cols;
  m.fill = black_value(static_cast<float>(stats.mean), static_cast<float>(stats.stddev));
  std::string blocks;
  for (int b : config.moe_blocks()) blocks += (blocks.empty() ? "" : ",") + std::to_string(b);
  m.description = config.experts > 0 ? fmt::format("vit, {}{}{} experts of hidden {} in blocks {}",
                                                   config.router ? to_string(config.router->routing) : "",
                                                   config.router ? ", " : "", config.experts, config.expert_width(), blocks)
                                     : fmt::format("vit, dense MLPs of hidden {}", config.mlp_width());
  return m;
}

}  // namespace softmoe
