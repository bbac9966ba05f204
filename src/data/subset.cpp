#include "softmoe/data/subset.hpp"

#include <algorithm>
#include <numeric>
#include <stdexcept>

#include <fmt/format.h>

#include "softmoe/errors.hpp"
#include "softmoe/rng.hpp"

namespace softmoe {

std::vector<int> stratified_quotas(const std::vector<int>& available, int size) {
  const long total = std::accumulate(available.begin(), available.end(), 0L);
  if (size <= 0 || size > total) throw std::invalid_argument("stratified_quotas: size outside 1..images");
  std::vector<int> quota(available.size(), 0);
  int remaining = size;
  while (remaining > 0) {
    std::vector<std::size_t> open;
    for (std::size_t c = 0; c < available.size(); ++c)
      if (quota[c] < available[c]) open.push_back(c);
    const int share = remaining / static_cast<int>(open.size());
    if (share == 0) {  // fewer images left than open classes: one more each, lowest classes first
      for (std::size_t i = 0; remaining > 0; ++i, --remaining) ++quota[open[i]];
      break;
    }
    for (std::size_t c : open) {
      const int take = std::min(share, available[c] - quota[c]);
      quota[c] += take;
      remaining -= take;
    }
  }
  return quota;
}

std::vector<std::int32_t> stratified_subset(const std::vector<std::int32_t>& labels, int classes, int size,
                                            std::uint64_t seed) {
  std::vector<std::vector<std::int32_t>> by_class(static_cast<std::size_t>(classes));
  for (std::size_t i = 0; i < labels.size(); ++i) by_class.at(static_cast<std::size_t>(labels[i])).push_back(static_cast<std::int32_t>(i));
  std::vector<int> available;
  for (const auto& members : by_class) available.push_back(static_cast<int>(members.size()));
  const std::vector<int> quota = stratified_quotas(available, size);
  Rng rng(seed, Stream::subset);
  std::vector<std::int32_t> chosen;
  chosen.reserve(static_cast<std::size_t>(size));
  for (std::size_t c = 0; c < by_class.size(); ++c) {
    rng.shuffle(by_class[c].begin(), by_class[c].end());
    chosen.insert(chosen.end(), by_class[c].begin(), by_class[c].begin() + quota[c]);
  }
  std::sort(chosen.begin(), chosen.end());
  return chosen;
}

ImageDataset select_images(const ImageDataset& data, const std::vector<std::int32_t>& indices) {
  ImageDataset out;
  out.rows = data.rows;
  out.cols = data.cols;
  out.count = static_cast<int>(indices.size());
  const std::size_t pixels = static_cast<std::size_t>(data.rows) * data.cols;
  out.images.resize(indices.size() * pixels);
  out.labels.resize(indices.size());
  for (std::size_t i = 0; i < indices.size(); ++i) {
    const auto source = static_cast<std::size_t>(indices[i]);
    std::copy_n(data.images.begin() + static_cast<long>(source * pixels), pixels,
                out.images.begin() + static_cast<long>(i * pixels));
    out.labels[i] = data.labels.at(source);
  }
  return out;
}

ImageDataset image_range(const ImageDataset& data, int first, int count) {
  std::vector<std::int32_t> indices(static_cast<std::size_t>(count));
  std::iota(indices.begin(), indices.end(), first);
  return select_images(data, indices);
}

void choose_training_images(ImageSplits& splits, std::optional<int> train_size, int val_size, std::uint64_t seed) {
  const int available = splits.train.count;
  if (train_size) {
    if (*train_size > available)
      throw UsageError(fmt::format("--train-size {}: larger than the {} training images of {}", *train_size, available,
                                   splits.source_dir));
    splits.train = select_images(splits.train, stratified_subset(splits.train.labels, splits.classes, *train_size, seed));
  }
  if (val_size > 0) {
    const int count = splits.train.count;
    if (val_size >= count)
      throw UsageError(
          fmt::format("--val-size {}: must leave training images (the training set has {})", val_size, count));
    splits.validation = image_range(splits.train, count - val_size, val_size);
    splits.train = image_range(splits.train, 0, count - val_size);
  }
}

}  // namespace softmoe
