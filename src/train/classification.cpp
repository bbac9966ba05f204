#include "softmoe/train/classification.hpp"

#include <cmath>

#include <fmt/format.h>

#include "softmoe/errors.hpp"
#include "softmoe/layers/label_smoothing.hpp"
#include "softmoe/layers/loss.hpp"
#include "softmoe/train/batches.hpp"

namespace softmoe {

EpochMetrics evaluate_classifier(Model<float>& model, const TokenDataset& data) {
  const int batch = model.max_batch(), classes = model.outputs();
  const std::size_t row = model.input_size();
  auto probs = make_buffer<float>(static_cast<std::size_t>(batch) * classes);
  double loss = 0;
  long correct = 0;
  for (int first = 0; first < data.count; first += batch) {
    const int count = std::min(batch, data.count - first);
    const float* logits = model.forward(data.x.data() + first * row, count);
    const std::int32_t* labels = data.labels.data() + first;
    loss += static_cast<double>(softmax_cross_entropy_forward(probs.data(), logits, labels, count, classes)) * count;
    correct += count_correct(logits, labels, count, classes);
  }
  return {loss / data.count, static_cast<double>(correct) / data.count};
}

EpochMetrics train_classifier_epoch(Model<float>& model, Optimizer<float>& optimizer, const TokenDataset& data,
                                    const std::vector<std::int32_t>& order,
                                    const std::function<void(int, double)>& on_batch, const EpochRecipe& recipe) {
  const int batch = model.max_batch(), classes = model.outputs();
  const std::size_t row = model.input_size();
  auto x = make_buffer<float>(static_cast<std::size_t>(batch) * row);
  auto probs = make_buffer<float>(static_cast<std::size_t>(batch) * classes);
  auto dlogits = make_buffer<float>(static_cast<std::size_t>(batch) * classes);
  std::vector<std::int32_t> labels(static_cast<std::size_t>(batch));
  auto& params = model.params();
  const double smoothing = recipe.label_smoothing;
  double loss_sum = 0;
  long correct = 0;
  const int examples = static_cast<int>(order.size());

  for (int first = 0; first < examples; first += batch) {
    const int count = std::min(batch, examples - first);
    gather_rows(x.data(), data.x.data(), order.data(), first, count, row);
    gather_rows(labels.data(), data.labels.data(), order.data(), first, count, 1);
    if (recipe.augment) recipe.augment(x.data(), count);
    params.zero_grad();
    const float* logits = model.forward(x.data(), count);
    const float loss =
        smoothing > 0 ? smoothed_cross_entropy_forward(probs.data(), logits, labels.data(), count, classes, smoothing)
                      : softmax_cross_entropy_forward(probs.data(), logits, labels.data(), count, classes);
    if (!std::isfinite(loss))
      throw RunError(fmt::format("training diverged: the loss became {} after {} examples of this epoch; "
                                 "try a smaller --lr",
                                 std::isnan(loss) ? "NaN" : "infinite", first));
    correct += count_correct(logits, labels.data(), count, classes);
    std::fill(dlogits.begin(), dlogits.begin() + static_cast<long>(count) * classes, 0.0f);
    if (smoothing > 0)
      smoothed_cross_entropy_backward(dlogits.data(), probs.data(), labels.data(), count, classes, smoothing);
    else
      softmax_cross_entropy_backward(dlogits.data(), probs.data(), labels.data(), count, classes);
    model.backward(dlogits.data(), count);
    if (recipe.lr)
      optimizer.step(params.values(), params.grads(), recipe.lr(optimizer.steps_taken()));
    else
      optimizer.step(params.values(), params.grads());
    loss_sum += static_cast<double>(loss) * count;
    if (on_batch) on_batch(first + count, loss_sum / (first + count));
  }
  return {loss_sum / examples, static_cast<double>(correct) / examples};
}

}  // namespace softmoe
