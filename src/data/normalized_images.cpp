#include "softmoe/data/normalized_images.hpp"

#include <array>
#include <cmath>
#include <stdexcept>

namespace softmoe {

PixelStats pixel_stats(const ImageDataset& data) {
  if (data.images.empty()) return {};
  std::array<long, 256> histogram{};
  for (const std::uint8_t v : data.images) ++histogram[v];
  const double n = static_cast<double>(data.images.size());
  double mean = 0;
  for (int v = 0; v < 256; ++v) mean += histogram[v] * (v / 255.0);
  mean /= n;
  double var = 0;
  for (int v = 0; v < 256; ++v) var += histogram[v] * (v / 255.0 - mean) * (v / 255.0 - mean);
  return {mean, std::sqrt(var / n)};
}

Buffer<float> normalized_images(const ImageDataset& data, float mean, float stddev) {
  if (!(stddev > 0)) throw std::invalid_argument("normalized_images: stddev must be positive");
  std::array<float, 256> value{};
  for (int v = 0; v < 256; ++v) value[v] = (static_cast<float>(v) / 255.0f - mean) / stddev;
  Buffer<float> out = make_buffer<float>(data.images.size());
  for (std::size_t i = 0; i < data.images.size(); ++i) out[i] = value[data.images[i]];
  return out;
}

}  // namespace softmoe
