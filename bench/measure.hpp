#pragma once
// How every benchmark executable measures, softmoe's and the LibTorch peer alike (so it depends on
// nothing but the standard library): the clock, the timing rule (median of repeated runs after warm-up),
// peak memory, and the paper's model FLOP count (torch_peer.py uses the same formula).
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <fstream>
#include <string>
#include <vector>

namespace softmoe::bench {

inline constexpr int kTokens = 4, kDim = 196, kClasses = 10;

// Forward FLOPs (a multiply-add counts 2) of the paper's model over `samples` inputs when each input
// evaluates `kept` of its n experts (p = 1): router, then per kept slot dispatch, both expert layers and
// combine, then the head.
inline double model_flops(int n, int h, double samples, int kept) {
  const double m = kTokens, d = kDim;
  const double router = 2.0 * m * d * n;
  const double per_kept_slot = 2.0 * m * d + 2.0 * d * h + 2.0 * h * d + 2.0 * m * d;
  const double head = 2.0 * m * d * kClasses;
  return samples * (router + kept * per_kept_slot + head);
}

// A sparse router of the paper's model (bench_router, torch_peer.py --task router, libtorch_peer --task router).
struct RouterSettings {
  bool tokens_choice = true;
  int k = 1;  // Tokens Choice
  double capacity_factor = 1.0;
  bool bpr = false;  // Tokens Choice
  int group_images = 8;
};

// The CSV task of a router row: router-tc-k1-c1.25-bpr, router-ec-c1, ...-g16 when G is not 8 (torch_peer.py's
// router_task builds the same names).
inline std::string router_task(const RouterSettings& r) {
  char c[32];
  std::snprintf(c, sizeof c, "%g", r.capacity_factor);
  std::string task = r.tokens_choice ? "router-tc-k" + std::to_string(r.k) + "-c" + c + (r.bpr ? "-bpr" : "")
                                     : std::string("router-ec-c") + c;
  if (r.group_images != 8) task += "-g" + std::to_string(r.group_images);
  return task;
}

// Capacity per expert of a group of S tokens, as the engine's sparse_capacity.
inline int router_capacity(const RouterSettings& r, int n, int S) {
  if (r.tokens_choice) return static_cast<int>(std::ceil(static_cast<double>(S) * r.k * r.capacity_factor / n - 1e-9));
  return std::min(S, std::max(1, static_cast<int>(std::floor(S * r.capacity_factor / n + 0.5))));
}

// Forward FLOPs (a multiply-add counts 2) of the paper's model with a sparse router over `samples` inputs:
// router logits and head per input, both expert layers per nominal token-expert pair. Nominal pairs per
// group of S tokens: Tokens Choice min(S K, n C) (what it asks for, at most what fits), Experts Choice n C
// (exact); dispatch and combine are data movement and count 0. Groups of G images, the last one partial as
// the engine routes it. torch_peer.py's router_flops is the same formula.
inline double router_model_flops(const RouterSettings& r, int n, int h, int samples) {
  const double m = kTokens, d = kDim;
  double pairs = 0;
  for (int first = 0; first < samples; first += r.group_images) {
    const int S = kTokens * std::min(r.group_images, samples - first), C = router_capacity(r, n, S);
    pairs += r.tokens_choice ? std::min(static_cast<double>(S) * r.k, static_cast<double>(n) * C)
                             : static_cast<double>(n) * C;
  }
  return samples * (2.0 * m * d * n + 2.0 * m * d * kClasses) + pairs * (2.0 * d * h + 2.0 * h * d);
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

}  // namespace softmoe::bench
