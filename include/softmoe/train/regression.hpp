#pragma once
// Training and evaluating a MoeModel with one output on mean squared error.
#include <functional>

#include "softmoe/data/synthetic.hpp"
#include "softmoe/models/moe_model.hpp"
#include "softmoe/optim.hpp"

namespace softmoe {

class Rng;

// Mean squared error over the whole dataset, in batches of the model's max_batch.
double evaluate_mse(MoeModel<float>& model, const RegressionData& data);

// `epochs` passes over `train` in mini-batches of at most model.max_batch(), reshuffled each epoch
// by `shuffle`; the last partial batch is kept. on_epoch(epoch, mean training loss) after each epoch.
// Throws RunError when the loss stops being finite.
void train_regression(MoeModel<float>& model, Optimizer<float>& optimizer, const RegressionData& train,
                      int epochs, Rng& shuffle, const std::function<void(int, double)>& on_epoch = {});

}  // namespace softmoe
