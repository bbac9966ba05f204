// One training step of the paper's MNIST model with a sparse router in place of the Soft MoE (forward with
// router noise, cross-entropy plus the weighted auxiliary loss, backward, Adam), batch 256: prints one CSV
// row (bench/common.hpp) with the median seconds per step. torch_peer.py --task router (and libtorch_peer
// --task router) time the same model.
//   bench_router --router tokens-choice --experts 32 --router-k 1 --capacity-factor 1.25 --bpr --threads 1
//   bench_router --router experts-choice --experts 128 --capacity-factor 1 --group-images 16
// The row's task names the router and its settings (bench/measure.hpp's router_task: router-tc-k1-c1.25-bpr,
// router-ec-c1-g16, ...); its k column is K (Tokens Choice) or 0 (Experts Choice); its FLOPs are
// bench/measure.hpp's router_model_flops (the nominal expert pairs, not the measured ones), times 3.
#include <CLI/CLI.hpp>

#include "common.hpp"
#include "softmoe/errors.hpp"
#include "softmoe/layers/loss.hpp"
#include "softmoe/models/routed_model.hpp"
#include "softmoe/optim.hpp"
#include "softmoe/rng.hpp"

int main(int argc, char** argv) {
  using namespace softmoe;
  CLI::App app{"softmoe sparse-router training-step benchmark"};
  std::string router = "tokens-choice";
  int experts = 8, threads = 1, batch = 256, k = 1, group_images = 8;
  double capacity_factor = 1.0, min_seconds = 1.0;
  bool bpr = false;
  app.add_option("--router", router)->check(CLI::IsMember({"tokens-choice", "experts-choice"}));
  app.add_option("--experts", experts)->check(CLI::Range(1, 784));
  app.add_option("--router-k", k, "Tokens Choice: experts per token")->check(CLI::Range(1, 784));
  app.add_option("--capacity-factor", capacity_factor)->check(CLI::PositiveNumber);
  app.add_option("--group-images", group_images, "images per routing group")->check(CLI::Range(1, 1 << 20));
  app.add_flag("--bpr", bpr, "Tokens Choice: batch priority routing");
  app.add_option("--threads", threads)->check(CLI::Range(1, 64));
  app.add_option("--batch", batch)->check(CLI::PositiveNumber);
  app.add_option("--min-seconds", min_seconds);
  CLI11_PARSE(app, argc, argv);
  kernels::set_blas_threads(threads);
  const bool tc = router == "tokens-choice";

  // The paper's model and the router defaults of `softmoe train` (noise 1, importance,load at 0.005).
  TrainConfig train;
  train.experts = experts;
  train.routing.router = tc ? Router::tokens_choice : Router::experts_choice;
  if (tc) train.routing.k = k;
  train.routing.capacity_factor = capacity_factor;
  train.routing.group_images = group_images;
  train.routing.bpr = bpr;
  RoutedModelConfig config;
  try {
    if (!tc && (k != 1 || bpr)) throw UsageError("--router-k/--bpr: Tokens Choice only");
    config = routed_paper_mnist_model(train);
  } catch (const UsageError& e) {
    fmt::print(stderr, "bench_router: {}\n", e.what());
    return 2;
  }
  RoutedMoeModel<float> model(config, batch);
  Rng rng(0, Stream::init);
  model.init(rng);
  model.set_training(true, 1);  // noise on, as in training
  const double seconds = bench::median_train_step_seconds(model, batch, min_seconds);
  const SparseMoeShape& s = config.moe;
  const bench::RouterSettings settings{tc, s.k, s.capacity_factor, s.bpr, s.group_images};
  bench::print_row({bench::router_task(settings), threads, experts, s.hidden, batch, tc ? s.k : 0, seconds,
                    3 * bench::router_model_flops(settings, experts, s.hidden, batch)});
  return 0;
}
