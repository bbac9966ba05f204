#pragma once
// How every benchmark executable measures, softmoe's and the LibTorch peer alike (so it depends on
// nothing but the standard library): the clock, the timing rule (median of repeated runs after warm-up),
// peak memory, and the paper's model FLOP count (torch_peer.py uses the same formula).
#include <algorithm>
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
