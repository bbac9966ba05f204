#include "softmoe/train/classification.hpp"

#include <cmath>

#include <fmt/format.h>

#include "softmoe/errors.hpp"
#include "softmoe/layers/loss.hpp"
#include "softmoe/train/batches.hpp"

namespace softmoe {
namespace {

// Sets act.store_slots for the lifetime of the object.
class SlotStorage {
 public:
  SlotStorage(SoftMoeActivations<float>& act, bool store) : act_(act), saved_(act.store_slots) { act.store_slots = store; }
  ~SlotStorage() { act_.store_slots = saved_; }
  SlotStorage(const SlotStorage&) = delete;
  SlotStorage& operator=(const SlotStorage&) = delete;

 private:
  SoftMoeActivations<float>& act_;
  bool saved_;
};

std::size_t example_size(const MoeModel<float>& model) {
  return static_cast<std::size_t>(model.config().moe.tokens) * model.config().moe.dim;
}

}  // namespace

EpochMetrics evaluate_classifier(MoeModel<float>& model, const TokenDataset& data) {
  const int batch = model.max_batch(), classes = model.config().outputs;
  const std::size_t row = example_size(model);
  auto probs = make_buffer<float>(static_cast<std::size_t>(batch) * classes);
  SlotStorage no_slots(model.moe_activations(), false);  // only the logits are needed
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

EpochMetrics train_classifier_epoch(MoeModel<float>& model, Optimizer<float>& optimizer, const TokenDataset& data,
                                    const std::vector<std::int32_t>& order,
                                    const std::function<void(int, double)>& on_batch) {
  const int batch = model.max_batch(), classes = model.config().outputs;
  const std::size_t row = example_size(model);
  auto x = make_buffer<float>(static_cast<std::size_t>(batch) * row);
  auto probs = make_buffer<float>(static_cast<std::size_t>(batch) * classes);
  auto dlogits = make_buffer<float>(static_cast<std::size_t>(batch) * classes);
  std::vector<std::int32_t> labels(static_cast<std::size_t>(batch));
  auto& params = model.params();
  SlotStorage no_slots(model.moe_activations(), false);  // backward does not need them
  double loss_sum = 0;
  long correct = 0;

  for (int first = 0; first < data.count; first += batch) {
    const int count = std::min(batch, data.count - first);
    gather_rows(x.data(), data.x.data(), order.data(), first, count, row);
    gather_rows(labels.data(), data.labels.data(), order.data(), first, count, 1);
    params.zero_grad();
    const float* logits = model.forward(x.data(), count);
    const float loss = softmax_cross_entropy_forward(probs.data(), logits, labels.data(), count, classes);
    if (!std::isfinite(loss))
      throw RunError(fmt::format("training diverged: the loss became {} after {} examples of this epoch; "
                                 "try a smaller --lr",
                                 std::isnan(loss) ? "NaN" : "infinite", first));
    correct += count_correct(logits, labels.data(), count, classes);
    std::fill(dlogits.begin(), dlogits.begin() + static_cast<long>(count) * classes, 0.0f);
    softmax_cross_entropy_backward(dlogits.data(), probs.data(), labels.data(), count, classes);
    model.backward(dlogits.data(), count);
    optimizer.step(params.values(), params.grads());
    loss_sum += static_cast<double>(loss) * count;
    if (on_batch) on_batch(first + count, loss_sum / (first + count));
  }
  return {loss_sum / data.count, static_cast<double>(correct) / data.count};
}

}  // namespace softmoe
