#pragma once
// An ImageDataset as normalised float images, the input a ViT reads:
//   out [count, rows cols], value = (pixel / 255 - mean) / stddev in float, as patch_tokens (and
//   torchvision's ToTensor + Normalize) compute it. A black pixel becomes black_value(mean, stddev).
#include "softmoe/data/image_dataset.hpp"
#include "softmoe/tensor.hpp"

namespace softmoe {

struct PixelStats {
  double mean = 0, stddev = 1;  // over every pixel of a dataset, on the [0, 1] scale (population std)
};

// Mean and standard deviation of all pixels (pixel / 255); Fashion-MNIST's training set gives about
// 0.2860 and 0.3530, MNIST's 0.1307 and 0.3081. An empty dataset gives {0, 1}.
PixelStats pixel_stats(const ImageDataset& data);

// All images of `data`, normalised; stddev must be positive (std::invalid_argument).
Buffer<float> normalized_images(const ImageDataset& data, float mean, float stddev);

// The normalised value of a black (0) pixel: the fill value for shifted-in borders.
inline float black_value(float mean, float stddev) { return (0.0f - mean) / stddev; }

}  // namespace softmoe
