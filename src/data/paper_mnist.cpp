#include "softmoe/data/paper_mnist.hpp"

#include <fmt/format.h>

#include "softmoe/errors.hpp"

namespace softmoe {

TokenDataset paper_mnist_tokens(const ImageDataset& images, const std::string& source_dir) {
  if (images.rows != kPaperImageSide || images.cols != kPaperImageSide)
    throw RunError(fmt::format("{}: the paper's MNIST model needs 28 x 28 images, found {} x {}", source_dir,
                               images.rows, images.cols));
  constexpr int tokens = (kPaperImageSide / kPaperPatch) * (kPaperImageSide / kPaperPatch);
  TokenDataset data;
  data.count = images.count;
  data.x = make_buffer<float>(static_cast<std::size_t>(images.count) * tokens * kPaperPatch * kPaperPatch);
  patch_tokens(data.x.data(), images, 0, images.count, kPaperPatch, kPaperPixelMean, kPaperPixelStd);
  data.labels = images.labels;
  return data;
}

}  // namespace softmoe
