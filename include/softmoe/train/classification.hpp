#pragma once
// Training and evaluating a MoeModel classifier on softmax cross-entropy, over pre-tokenised data.
#include <cstdint>
#include <functional>
#include <vector>

#include "softmoe/models/moe_model.hpp"
#include "softmoe/optim.hpp"
#include "softmoe/tensor.hpp"

namespace softmoe {

struct TokenDataset {
  int count = 0;
  Buffer<float> x;                    // [count, tokens, dim]
  std::vector<std::int32_t> labels;   // [count]
};

struct EpochMetrics {
  double loss = 0;      // mean over examples
  double accuracy = 0;  // fraction in [0, 1]
};

// Loss and accuracy over the whole dataset, in batches of the model's max_batch.
EpochMetrics evaluate_classifier(MoeModel<float>& model, const TokenDataset& data);

// One pass of updates over `data` in the given example order, mini-batches of model.max_batch(), the
// last partial batch kept. Loss and accuracy are those of each batch before its update, averaged.
// on_batch(examples done, mean loss so far) after each update. Throws RunError when the loss stops being finite.
EpochMetrics train_classifier_epoch(MoeModel<float>& model, Optimizer<float>& optimizer, const TokenDataset& data,
                                    const std::vector<std::int32_t>& order,
                                    const std::function<void(int, double)>& on_batch = {});

}  // namespace softmoe
