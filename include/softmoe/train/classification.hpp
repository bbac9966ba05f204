#pragma once
// Training and evaluating a classifier (any Model whose outputs are logits) on softmax cross-entropy,
// over pre-processed data: tokens for the paper's model, normalised images for the ViT.
#include <cstdint>
#include <functional>
#include <vector>

#include "softmoe/data/token_dataset.hpp"
#include "softmoe/models/model.hpp"
#include "softmoe/optim.hpp"
#include "softmoe/tensor.hpp"

namespace softmoe {

struct EpochMetrics {
  double loss = 0;      // mean over examples
  double accuracy = 0;  // fraction in [0, 1]
};

// How one epoch trains beyond plain cross-entropy at the optimiser's learning rate.
struct EpochRecipe {
  double label_smoothing = 0;  // 0: softmax cross-entropy; else its smoothed form (layers/label_smoothing.hpp)
  // The learning rate of update `step` (the optimiser's step count before the update); empty: the
  // optimiser's own.
  std::function<double(long step)> lr;
  // Changes a gathered batch in place (inputs [count, example size]) before the forward pass; empty: none.
  std::function<void(float* inputs, int count)> augment;
};

// Loss (plain cross-entropy) and accuracy over the whole dataset, in batches of the model's max_batch.
EpochMetrics evaluate_classifier(Model<float>& model, const TokenDataset& data);

// Updates over the examples of `data` listed in `order` (one pass, or any sequence of indices), in
// mini-batches of model.max_batch(), the last partial batch kept. Loss (the one optimised) and accuracy are those of each batch before its
// update, averaged. on_batch(examples done, mean loss so far) after each update. Throws RunError when
// the loss stops being finite.
EpochMetrics train_classifier_epoch(Model<float>& model, Optimizer<float>& optimizer, const TokenDataset& data,
                                    const std::vector<std::int32_t>& order,
                                    const std::function<void(int, double)>& on_batch = {},
                                    const EpochRecipe& recipe = {});

}  // namespace softmoe
