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
#include "softmoe/models/model.hpp"
#include "softmoe/train/classification.hpp"

namespace softmoe {

struct TrainedModel {
  std::unique_ptr<Model<float>> model;
  json::Value architecture;               // config.json's "architecture" and the checkpoint's "softmoe.model"
  TokenDataset train, test, validation;  // validation: empty unless the splits hold one
  int image_rows = 0, image_cols = 0;     // vit: the image size, for shifts
  float fill = 0;                         // vit: the normalised black pixel, for shifts
  int expert_hidden = 0;                  // each expert's hidden width (the architecture's; 0 for a dense ViT)
  std::string description;                // for the final line on stdout

  // Initialised with Stream::init from `seed`.
  void init(long long seed);
  void save_checkpoint(const std::filesystem::path& path, int epoch) const;
};

// The model of config.model with max batch `batch`, not yet initialised, and the dataset in its form.
TrainedModel build_trained_model(const TrainConfig& config, const TrainRecipe& recipe, const ImageSplits& splits);

}  // namespace softmoe
