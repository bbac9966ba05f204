#pragma once
// The paper's MNIST setting (reference note, section 4): 28 x 28 images cut into four 14 x 14 patches,
// row-major patch order, each a token of 196 normalised pixels; 10 classes.
#include "softmoe/data/image_dataset.hpp"
#include "softmoe/data/token_dataset.hpp"

namespace softmoe {

inline constexpr int kPaperPatch = 14;
inline constexpr int kPaperImageSide = 28;
inline constexpr int kPaperClasses = 10;
inline constexpr float kPaperPixelMean = 0.1307f;
inline constexpr float kPaperPixelStd = 0.3081f;

// x [count, 4, 196] and labels of a 28 x 28 dataset (RunError naming source_dir for other sizes).
TokenDataset paper_mnist_tokens(const ImageDataset& images, const std::string& source_dir);

}  // namespace softmoe
