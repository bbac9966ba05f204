#pragma once
// What every softmoe benchmark executable shares: the CSV schema (bench/run_bench.py and the peers use
// the same), the timing rule (median of repeated runs after warm-up), peak memory, the paper's model
// and its FLOP count.
//   task,impl,threads,blas_threads,torch_threads,experts,hidden,batch,k,seconds_per_step,
//   samples_per_second,model_gflops_per_second,peak_rss_mb,blas
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <fstream>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "softmoe/commands/train.hpp"
#include "softmoe/kernels/gemm.hpp"
#include "softmoe/models/vit.hpp"

namespace softmoe::bench {

inline constexpr int kTokens = 4, kDim = 196, kClasses = 10;

// The paper's MNIST model with n experts of hidden int(784 / n).
inline MoeModelConfig paper_model(int experts) {
  TrainConfig config;
  config.experts = experts;
  return paper_mnist_model(config);
}

// Forward FLOPs (a multiply-add counts 2) of the paper's model over `samples` inputs when each input
// evaluates `kept` of its n experts (p = 1): router, then per kept slot dispatch, both expert layers and
// combine, then the head. torch_peer.py and libtorch_peer.cpp use the same formula.
inline double model_flops(int n, int h, double samples, int kept) {
  const double m = kTokens, d = kDim;
  const double router = 2.0 * m * d * n;
  const double per_kept_slot = 2.0 * m * d + 2.0 * d * h + 2.0 * h * d + 2.0 * m * d;
  const double head = 2.0 * m * d * kClasses;
  return samples * (router + kept * per_kept_slot + head);
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

inline double peak_rss_mb() {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line))
    if (line.rfind("VmHWM:", 0) == 0) return std::stod(line.substr(6)) / 1024.0;
  return 0;
}

// Sets the peak to the current resident size (Linux >= 4.0), so that one process can measure phases.
inline void reset_peak_rss() {
  if (std::FILE* f = std::fopen("/proc/self/clear_refs", "w")) {
    std::fputs("5", f);
    std::fclose(f);
  }
}

// Seconds on the wall clock or, with SOFTMOE_BENCH_CLOCK=cpu (for one thread on a busy machine), the
// process's CPU time.
inline double now_seconds() {
  static const bool cpu = [] {
    const char* clock = std::getenv("SOFTMOE_BENCH_CLOCK");
    return clock && std::string(clock) == "cpu";
  }();
  timespec ts{};
  clock_gettime(cpu ? CLOCK_PROCESS_CPUTIME_ID : CLOCK_MONOTONIC, &ts);
  return static_cast<double>(ts.tv_sec) + 1e-9 * static_cast<double>(ts.tv_nsec);
}

// Median seconds of fn() after `warmup` calls, over at least min_runs calls and min_seconds.
template <class Fn>
double median_seconds(Fn&& fn, double min_seconds, int min_runs, int max_runs, int warmup) {
  for (int i = 0; i < warmup; ++i) fn();
  std::vector<double> times;
  const double start = now_seconds();
  while (static_cast<int>(times.size()) < max_runs &&
         (static_cast<int>(times.size()) < min_runs || now_seconds() - start < min_seconds)) {
    const double t0 = now_seconds();
    fn();
    times.push_back(now_seconds() - t0);
  }
  std::sort(times.begin(), times.end());
  const std::size_t mid = times.size() / 2;
  return times.size() % 2 ? times[mid] : 0.5 * (times[mid - 1] + times[mid]);
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
