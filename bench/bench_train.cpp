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
  const double seconds = bench::median_train_step_seconds(model, batch, min_seconds);
  const int h = config.moe.hidden;
  bench::print_row({"train", threads, experts, h, batch, experts, seconds,
                    3 * bench::model_flops(experts, h, batch, experts)});
  return 0;
}
