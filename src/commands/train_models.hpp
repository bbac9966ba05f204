#pragma once
// The model side of `softmoe train`: the network, its data in the form it reads, its checkpoint writer.
#include <filesystem>
#include <functional>
#include <memory>
#include <string>

#include "softmoe/commands/train.hpp"
#include "softmoe/data/image_dataset.hpp"
#include "softmoe/data/normalized_images.hpp"
#include "softmoe/io/json.hpp"
#include "softmoe/models/classifier.hpp"
#include "softmoe/train/classification.hpp"

namespace softmoe {

struct TrainedModel {
  std::unique_ptr<MoeModel<float>> paper;  // one of paper and vit is set
  std::unique_ptr<VitModel<float>> vit;
  std::unique_ptr<Classifier> classifier;
  json::Value architecture;               // config.json's "architecture" and the checkpoint's "softmoe.model"
  TokenDataset train, test;
  PixelStats input;                       // vit: the input normalisation
  float fill = 0;                         // vit: the normalised black pixel, for shifts
  std::string description;                // for the final line on stdout

  // Initialised with Stream::init from `seed`.
  void init(long long seed);
  void save_checkpoint(const std::filesystem::path& path, int epoch) const;
};

// The model of config.model with max batch `batch`, not yet initialised, and the dataset in its form.
TrainedModel build_trained_model(const TrainConfig& config, const TrainRecipe& recipe, const ImageSplits& splits);

}  // namespace softmoe
