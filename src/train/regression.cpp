#include "softmoe/train/regression.hpp"

#include <cmath>
#include <numeric>
#include <vector>

#include <fmt/format.h>

#include "softmoe/errors.hpp"
#include "softmoe/layers/loss.hpp"
#include "softmoe/rng.hpp"
#include "softmoe/train/batches.hpp"

namespace softmoe {
namespace {

std::size_t example_size(const MoeModel<float>& model) {
  return static_cast<std::size_t>(model.config().moe.tokens) * model.config().moe.dim;
}

}  // namespace

double evaluate_mse(MoeModel<float>& model, const RegressionData& data) {
  const int batch = model.max_batch();
  const std::size_t row = example_size(model);
  double total = 0;
  for (int first = 0; first < data.count; first += batch) {
    const int count = std::min(batch, data.count - first);
    const float* pred = model.forward(data.x.data() + first * row, count);
    for (int j = 0; j < count; ++j) {
      const double diff = static_cast<double>(pred[j]) - data.y[first + j];
      total += diff * diff;
    }
  }
  return total / data.count;
}

void train_regression(MoeModel<float>& model, Optimizer<float>& optimizer, const RegressionData& train,
                      int epochs, Rng& shuffle, const std::function<void(int, double)>& on_epoch) {
  const int batch = model.max_batch();
  const std::size_t row = example_size(model);
  std::vector<std::int32_t> order(static_cast<std::size_t>(train.count));
  std::iota(order.begin(), order.end(), 0);
  auto x = make_buffer<float>(static_cast<std::size_t>(batch) * row);
  auto y = make_buffer<float>(static_cast<std::size_t>(batch));
  auto dpred = make_buffer<float>(static_cast<std::size_t>(batch));
  auto& params = model.params();

  for (int epoch = 1; epoch <= epochs; ++epoch) {
    shuffle.shuffle(order.begin(), order.end());
    double loss_sum = 0;
    for (int first = 0; first < train.count; first += batch) {
      const int count = std::min(batch, train.count - first);
      gather_rows(x.data(), train.x.data(), order.data(), first, count, row);
      gather_rows(y.data(), train.y.data(), order.data(), first, count, 1);
      params.zero_grad();
      const float* pred = model.forward(x.data(), count);
      const float loss = mse_forward(pred, y.data(), count);
      if (!std::isfinite(loss))
        throw RunError(fmt::format("training diverged: the loss became {} in epoch {}; try a smaller --lr",
                                   std::isnan(loss) ? "NaN" : "infinite", epoch));
      std::fill(dpred.begin(), dpred.begin() + count, 0.0f);
      mse_backward(dpred.data(), pred, y.data(), count);
      model.backward(dpred.data(), count);
      optimizer.step(params.values(), params.grads());
      loss_sum += static_cast<double>(loss) * count;
    }
    if (on_epoch) on_epoch(epoch, loss_sum / train.count);
  }
}

}  // namespace softmoe
