#pragma once
// What the LibTorch peer's two files share (libtorch_peer.cpp: main, the Soft MoE tasks; libtorch_router.cpp:
// the sparse-router task): the command line and the CSV row of bench/common.hpp.
#include <string>

#include "measure.hpp"

namespace softmoe::bench {

struct Args {
  std::string task;
  int experts = 8, batch = 256, infer_batch = 5000, chunk = 500, blas_threads = 0, torch_threads = 0;
  double min_seconds = 1.0;
  std::string router = "tokens-choice";
  RouterSettings routing;
};

// The BLAS this process really loaded, from its memory map.
std::string blas_library();
void print_row(const Args& a, const char* task, int n, int h, int batch, int k, double seconds, double flops);

// --task router: checks the peer against plain per-token loops, then times a training step.
void bench_router(const Args& a);

}  // namespace softmoe::bench
