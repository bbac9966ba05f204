// This machine's roof: OpenBLAS sgemm GFLOP/s on square matrices (256, 512, 1024) through the engine's
// kernels::gemm, one CSV row per size (bench/common.hpp; batch = the size, samples_per_second = 0).
//   bench_sgemm --threads 1
#include <CLI/CLI.hpp>

#include "common.hpp"
#include "softmoe/rng.hpp"
#include "softmoe/tensor.hpp"

int main(int argc, char** argv) {
  using namespace softmoe;
  CLI::App app{"softmoe sgemm roof"};
  int threads = 1;
  app.add_option("--threads", threads)->check(CLI::Range(1, 64));
  CLI11_PARSE(app, argc, argv);
  kernels::set_blas_threads(threads);

  Rng rng(3, Stream::data);
  for (int size : {256, 512, 1024}) {
    const auto count = static_cast<std::size_t>(size) * size;
    auto a = make_buffer<float>(count), b = make_buffer<float>(count), c = make_buffer<float>(count);
    for (std::size_t i = 0; i < count; ++i) {
      a[i] = static_cast<float>(rng.uniform());
      b[i] = static_cast<float>(rng.uniform());
    }
    const double seconds = bench::median_seconds(
        [&] {
          kernels::gemm(kernels::Trans::no, kernels::Trans::no, size, size, size, 1.0f, a.data(), size, b.data(),
                        size, 0.0f, c.data(), size);
        },
        0.3, 5, 1000, 3);
    const double gflops = 2.0 * size * size * size / seconds / 1e9;
    fmt::print("sgemm,softmoe,{},{},0,0,0,{},0,{:.6g},0,{:.6g},{:.1f},openblas\n", threads, kernels::blas_threads(),
               size, seconds, gflops, bench::peak_rss_mb());
  }
  return 0;
}
