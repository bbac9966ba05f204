// One training step of the Soft MoE ViT of issue #7 at bench scale (28 x 28 images, patch 7, dim 64,
// depth 4, heads 4, Soft MoE in blocks 2 and 3 with n = 16 experts of hidden 64, class token): forward,
// label-smoothed cross-entropy, backward, AdamW. Prints one CSV row (bench/common.hpp), task train_vit.
//   bench_vit --threads 1 [--batch 128] [--label-smoothing 0.1]
#include <CLI/CLI.hpp>

#include "common.hpp"
#include "softmoe/layers/label_smoothing.hpp"
#include "softmoe/models/vit.hpp"
#include "softmoe/optim.hpp"
#include "softmoe/rng.hpp"

int main(int argc, char** argv) {
  using namespace softmoe;
  CLI::App app{"softmoe ViT training-step benchmark"};
  int threads = 1, batch = 128;
  double min_seconds = 1.0, smoothing = 0.1;
  app.add_option("--threads", threads)->check(CLI::Range(1, 64));
  app.add_option("--batch", batch)->check(CLI::PositiveNumber);
  app.add_option("--label-smoothing", smoothing)->check(CLI::Range(0.0, 1.0));
  app.add_option("--min-seconds", min_seconds);
  CLI11_PARSE(app, argc, argv);
  kernels::set_blas_threads(threads);

  const VitConfig config = bench::vit_config();
  VitModel<float> model(config, batch);
  Rng rng(0, Stream::init);
  model.init(rng);
  OptimizerConfig adamw;
  adamw.kind = OptimizerKind::adamw;
  adamw.weight_decay = bench::kVitWeightDecay;
  Optimizer<float> optimizer(adamw, model.params().size());

  Rng data(1, Stream::data);
  const int pixels = config.rows * config.cols, K = config.classes;
  auto images = make_buffer<float>(static_cast<std::size_t>(batch) * pixels);
  for (auto& v : images) v = static_cast<float>(data.normal());
  std::vector<std::int32_t> labels(static_cast<std::size_t>(batch));
  for (auto& l : labels) l = static_cast<std::int32_t>(data.below(static_cast<std::uint64_t>(K)));
  auto probs = make_buffer<float>(static_cast<std::size_t>(batch) * K);
  auto dlogits = make_buffer<float>(static_cast<std::size_t>(batch) * K);

  auto step = [&] {
    auto& params = model.params();
    params.zero_grad();
    const float* logits = model.forward(images.data(), batch);
    smoothed_cross_entropy_forward(probs.data(), logits, labels.data(), batch, K, smoothing);
    std::fill(dlogits.begin(), dlogits.end(), 0.0f);
    smoothed_cross_entropy_backward(dlogits.data(), probs.data(), labels.data(), batch, K, smoothing);
    model.backward(dlogits.data(), batch);
    optimizer.step(params.values(), params.grads());
  };
  bench::reset_peak_rss();
  const double seconds = bench::median_seconds(step, min_seconds, 10, 400, 5);
  bench::print_row({"train_vit", threads, config.experts, config.expert_hidden, batch, config.experts, seconds,
                    3 * bench::vit_flops(config, batch)});
  return 0;
}
