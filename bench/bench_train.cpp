// One training step of the paper's MNIST model (forward, cross-entropy, backward, Adam), batch 256:
// prints one CSV row (bench/common.hpp) with the median seconds per step.
//   bench_train --experts 8 --threads 1
#include <CLI/CLI.hpp>

#include "common.hpp"
#include "softmoe/layers/loss.hpp"
#include "softmoe/optim.hpp"
#include "softmoe/rng.hpp"

int main(int argc, char** argv) {
  using namespace softmoe;
  CLI::App app{"softmoe training-step benchmark"};
  int experts = 8, threads = 1, batch = 256;
  double min_seconds = 1.0;
  app.add_option("--experts", experts)->check(CLI::Range(1, 784));
  app.add_option("--threads", threads)->check(CLI::Range(1, 64));
  app.add_option("--batch", batch)->check(CLI::PositiveNumber);
  app.add_option("--min-seconds", min_seconds);
  CLI11_PARSE(app, argc, argv);
  kernels::set_blas_threads(threads);

  const MoeModelConfig config = bench::paper_model(experts);
  MoeModel<float> model(config, batch);
  Rng rng(0, Stream::init);
  model.init(rng);
  model.moe_activations().store_slots = false;  // as train_classifier_epoch does
  Optimizer<float> optimizer(OptimizerConfig{}, model.params().size());

  Rng data(1, Stream::data);
  auto x = make_buffer<float>(static_cast<std::size_t>(batch) * bench::kTokens * bench::kDim);
  for (auto& v : x) v = static_cast<float>(data.normal());
  std::vector<std::int32_t> labels(static_cast<std::size_t>(batch));
  for (auto& l : labels) l = static_cast<std::int32_t>(data.below(bench::kClasses));
  auto probs = make_buffer<float>(static_cast<std::size_t>(batch) * bench::kClasses);
  auto dlogits = make_buffer<float>(static_cast<std::size_t>(batch) * bench::kClasses);

  auto step = [&] {
    auto& params = model.params();
    params.zero_grad();
    const float* logits = model.forward(x.data(), batch);
    softmax_cross_entropy_forward(probs.data(), logits, labels.data(), batch, bench::kClasses);
    std::fill(dlogits.begin(), dlogits.end(), 0.0f);
    softmax_cross_entropy_backward(dlogits.data(), probs.data(), labels.data(), batch, bench::kClasses);
    model.backward(dlogits.data(), batch);
    optimizer.step(params.values(), params.grads());
  };
  bench::reset_peak_rss();
  const double seconds = bench::median_seconds(step, min_seconds, 10, 400, 5);
  const int h = config.moe.hidden;
  bench::print_row({"train", threads, experts, h, batch, experts, seconds,
                    3 * bench::model_flops(experts, h, batch, experts)});
  return 0;
}
