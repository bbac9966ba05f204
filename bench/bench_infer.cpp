// Inference of the paper's MNIST model over a batch of 5000 inputs (in chunks, as the peers do):
// all experts (MoeModel::forward), and each input's top-k experts by combine weight (k = n / 8,
// Algorithm 2 through src/select). Prints two CSV rows (bench/common.hpp), median seconds per pass.
//   bench_infer --experts 128 --threads 1
#include <CLI/CLI.hpp>

#include "common.hpp"
#include "softmoe/layers/linear.hpp"
#include "softmoe/rng.hpp"
#include "softmoe/layers/softmoe_selected.hpp"
#include "softmoe/layers/expert_selection.hpp"

int main(int argc, char** argv) {
  using namespace softmoe;
  CLI::App app{"softmoe inference benchmark"};
  int experts = 8, threads = 1, batch = 5000, chunk = 500;
  double min_seconds = 1.0;
  bool phases = false;
  app.add_option("--experts", experts)->check(CLI::Range(1, 784));
  app.add_flag("--phases", phases, "also print (stderr) the top-k pass's time per phase, best of its runs");
  app.add_option("--threads", threads)->check(CLI::Range(1, 64));
  app.add_option("--batch", batch)->check(CLI::PositiveNumber);
  app.add_option("--chunk", chunk)->check(CLI::PositiveNumber);
  app.add_option("--min-seconds", min_seconds);
  CLI11_PARSE(app, argc, argv);
  kernels::set_blas_threads(threads);
  chunk = std::min(chunk, batch);

  const MoeModelConfig config = bench::paper_model(experts);
  const SoftMoeShape& shape = config.moe;
  const int h = shape.hidden, k = std::max(1, experts / 8), row = bench::kTokens * bench::kDim;
  MoeModel<float> model(config, chunk);
  Rng rng(0, Stream::init);
  model.init(rng);
  model.moe_activations().store_slots = false;  // only the logits are needed, as in evaluate_classifier
  Rng data(2, Stream::data);
  auto x = make_buffer<float>(static_cast<std::size_t>(batch) * row);
  for (auto& v : x) v = static_cast<float>(data.normal());

  auto all_experts = [&] {
    for (int first = 0; first < batch; first += chunk) model.forward(x.data() + static_cast<long>(first) * row,
                                                                      std::min(chunk, batch - first));
  };
  bench::reset_peak_rss();
  double seconds = bench::median_seconds(all_experts, min_seconds, 3, 50, 1);
  const double all_seconds = seconds;
  bench::print_row({"infer_all", threads, experts, h, batch, experts, seconds,
                    bench::model_flops(experts, h, batch, experts)});

  SelectionWorkspace ws(shape, chunk);
  auto moe_out = make_buffer<float>(static_cast<std::size_t>(chunk) * config.head_inputs());
  auto logits = make_buffer<float>(static_cast<std::size_t>(chunk) * config.outputs);
  const auto head = *model.params().find("head.weight");
  const SoftMoeTensors<float> w = model.moe_values();
  double phase[3] = {1e30, 1e30, 1e30};  // route_batch, keep_top_k, run_kept_experts + head: best pass
  auto top_k = [&] {
    double spent[3] = {0, 0, 0};
    for (int first = 0; first < batch; first += chunk) {
      const int count = std::min(chunk, batch - first);
      const float* xc = x.data() + static_cast<long>(first) * row;
      const double t0 = bench::now_seconds();
      route_batch(ws, xc, w, shape, count);
      const double t1 = bench::now_seconds();
      keep_top_k(ws.keep.data(), ws.scores.data(), count, experts, k);
      const double t2 = bench::now_seconds();
      run_kept_experts(moe_out.data(), ws, xc, w, shape, count, false, nullptr);
      linear_forward(logits.data(), moe_out.data(), model.params().value(head), static_cast<const float*>(nullptr),
                     count, config.head_inputs(), config.outputs);
      const double t3 = bench::now_seconds();
      spent[0] += t1 - t0;
      spent[1] += t2 - t1;
      spent[2] += t3 - t2;
    }
    for (int i = 0; i < 3; ++i) phase[i] = std::min(phase[i], spent[i]);
  };
  bench::reset_peak_rss();
  seconds = bench::median_seconds(top_k, min_seconds, 3, 50, 1);
  bench::print_row({"infer_topk", threads, experts, h, batch, k, seconds, bench::model_flops(experts, h, batch, k)});
  if (phases)
    fmt::print(stderr, "top-k phases, n = {}, k = {}, {} threads (ms): route_batch {:.2f}, keep_top_k {:.2f}, "
               "run_kept_experts + head {:.2f}; all-expert pass {:.2f}\n", experts, k, threads, 1e3 * phase[0],
               1e3 * phase[1], 1e3 * phase[2], 1e3 * all_seconds);
  return 0;
}
