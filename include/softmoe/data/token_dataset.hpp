#pragma once
// A labelled dataset in the form a model reads: tokens for the paper's model, normalised images for the ViT.
#include <cstdint>
#include <vector>

#include "softmoe/tensor.hpp"

namespace softmoe {

struct TokenDataset {
  int count = 0;
  Buffer<float> x;                    // [count, example size]: tokens [m, d] or an image [rows cols]
  std::vector<std::int32_t> labels;   // [count]
};

}  // namespace softmoe
