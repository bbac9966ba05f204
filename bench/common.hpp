#pragma once
// What the softmoe benchmark executables share beyond bench/measure.hpp: the CSV schema (bench/run_bench.py
// and the peers use the same), the paper's model, the ViT at bench scale and its FLOP count.
//   task,impl,threads,blas_threads,torch_threads,experts,hidden,batch,k,seconds_per_step,
//   samples_per_second,model_gflops_per_second,peak_rss_mb,blas
#include <algorithm>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "measure.hpp"
#include "softmoe/commands/train.hpp"
#include "softmoe/kernels/gemm.hpp"
#include "softmoe/layers/loss.hpp"
#include "softmoe/models/model.hpp"
#include "softmoe/optim.hpp"
#include "softmoe/rng.hpp"
#include "softmoe/models/vit.hpp"

namespace softmoe::bench {

// The paper's MNIST model with n experts of hidden int(784 / n).
inline MoeModelConfig paper_model(int experts) {
  TrainConfig config;
  config.experts = experts;
  return paper_mnist_model(config);
}

// The ViT of issue #7 at bench scale; torch_peer.py's vit task builds the same model.
inline constexpr double kVitWeightDecay = 0.05;
inline VitConfig vit_config() {
  VitConfig c;
  c.rows = c.cols = 28;
  c.patch = 7;
  c.dim = 64;
  c.depth = 4;
  c.heads = 4;
  c.moe_layers = {2, 3};
  c.experts = 16;
  c.expert_hidden = 64;
  c.classes = 10;
  return c;
}

// Forward FLOPs (a multiply-add counts 2) of the ViT over `samples` images: patch embedding, per block the
// attention (QKV, scores, weighted values, output projection) and the dense MLP or the Soft MoE (router,
// dispatch, experts, combine), and the head. torch_peer.py uses the same formula.
inline double vit_flops(const VitConfig& c, double samples) {
  const double L = c.tokens(), D = c.dim, P = c.patches(), F = c.mlp_width(), S = c.experts * c.slots,
               h = c.expert_width(), pp = static_cast<double>(c.patch) * c.patch;
  const auto moe = c.moe_blocks();
  double macs = P * pp * D + D * c.classes;
  for (int i = 0; i < c.depth; ++i) {
    macs += 4 * L * D * D + 2 * L * L * D;
    const bool is_moe = std::find(moe.begin(), moe.end(), i) != moe.end();
    macs += is_moe ? L * D * S + S * L * D + S * 2 * D * h + L * S * D : 2 * L * D * F;
  }
  return 2 * samples * macs;
}

// Median seconds of one training step of `model` (forward, cross-entropy, backward, the optimiser's update)
// on a fixed random batch of the paper's tokens [batch, 4, 196] and labels; a sparse router's backward
// adds its auxiliary loss's gradient itself. Resets the peak-memory count first.
inline double median_train_step_seconds(Model<float>& model, int batch, double min_seconds) {
  Optimizer<float> optimizer(OptimizerConfig{}, model.params().size());
  Rng data(1, Stream::data);
  auto x = make_buffer<float>(static_cast<std::size_t>(batch) * kTokens * kDim);
  for (auto& v : x) v = static_cast<float>(data.normal());
  std::vector<std::int32_t> labels(static_cast<std::size_t>(batch));
  for (auto& l : labels) l = static_cast<std::int32_t>(data.below(kClasses));
  auto probs = make_buffer<float>(static_cast<std::size_t>(batch) * kClasses);
  auto dlogits = make_buffer<float>(static_cast<std::size_t>(batch) * kClasses);
  auto step = [&] {
    auto& params = model.params();
    params.zero_grad();
    const float* logits = model.forward(x.data(), batch);
    softmax_cross_entropy_forward(probs.data(), logits, labels.data(), batch, kClasses);
    std::fill(dlogits.begin(), dlogits.end(), 0.0f);
    softmax_cross_entropy_backward(dlogits.data(), probs.data(), labels.data(), batch, kClasses);
    model.backward(dlogits.data(), batch);
    optimizer.step(params.values(), params.grads());
  };
  reset_peak_rss();
  return median_seconds(step, min_seconds, 10, 400, 5);
}

struct Row {
  std::string task;
  int threads = 1;
  int experts = 0, hidden = 0, batch = 0, k = 0;
  double seconds = 0;  // per step (train) or per pass over the batch (inference)
  double flops = 0;    // per step or pass
};

inline void print_row(const Row& r) {
  const int t = kernels::blas_threads();
  fmt::print("{},softmoe,{},{},0,{},{},{},{},{:.6g},{:.6g},{:.6g},{:.1f},openblas\n", r.task, r.threads, t,
             r.experts, r.hidden, r.batch, r.k, r.seconds, r.batch / r.seconds, r.flops / r.seconds / 1e9,
             peak_rss_mb());
  std::fflush(stdout);
}

}  // namespace softmoe::bench
