#pragma once
// The image-classification datasets (MNIST, Fashion-MNIST) held in memory as raw bytes, and their
// conversion to the float tokens the models read.
#include <cstdint>
#include <string>
#include <vector>

#include "softmoe/names.hpp"

namespace softmoe {

enum class Dataset { mnist, fashion_mnist };
inline constexpr EnumName<Dataset> kDatasetNames[] = {{Dataset::mnist, "mnist"}, {Dataset::fashion_mnist, "fashion-mnist"}};
inline const char* to_string(Dataset value) { return name_of(value, kDatasetNames); }

struct ImageDataset {
  std::vector<std::uint8_t> images;  // [count, rows, cols], row-major, pixel 0..255
  std::vector<std::int32_t> labels;  // [count], each in [0, classes)
  int count = 0, rows = 0, cols = 0;
};

struct ImageSplits {
  ImageDataset train, test;
  ImageDataset validation;  // held out from train (train --val-size); empty otherwise
  int classes = 0;
  std::string source_dir;  // the directory the files were read from
};

// Loads the training and test splits of a dataset.
// The directory is data_dir_override when not empty, else the default: <repo>/data/mnist for MNIST,
// /usr/share/datasets/fashion-mnist (Debian's dataset-fashion-mnist) for Fashion-MNIST. It must hold
// train-images-idx3-ubyte, train-labels-idx1-ubyte, t10k-images-idx3-ubyte, t10k-labels-idx1-ubyte,
// each optionally gzip-compressed with a ".gz" suffix. Missing or invalid files: RunError.
ImageSplits load_image_dataset(Dataset dataset, const std::string& data_dir_override);

// Reads one split from an image file and a label file; the two counts must agree.
ImageDataset load_image_split(const std::string& images_path, const std::string& labels_path, int classes);

// Cuts images [first, first + count) into non-overlapping patch x patch tokens, as in the Soft MoE
// paper's MNIST model: out[n, t, k] with t = pr * (cols / patch) + pc the patch in row-major patch
// order and k = (r % patch) * patch + c % patch the pixel in row-major order within its patch.
//   out: [count, (rows / patch) * (cols / patch), patch * patch]
//   value = (pixel / 255 - mean) / stddev, in float as torchvision's ToTensor + Normalize compute it.
// patch must divide rows and cols (UsageError); the range must lie inside the dataset (out_of_range).
void patch_tokens(float* out, const ImageDataset& data, int first, int count, int patch, float mean, float stddev);

}  // namespace softmoe
