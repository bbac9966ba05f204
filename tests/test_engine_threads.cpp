// The engine on its own thread pool: the Soft MoE layer gives the same results (to rounding) with one and
// two threads, bit-identical results on reruns with the same thread count, finite-difference gradients
// with two threads, the same results with and without storing the slot tensors, and slot_out in its
// documented [n, B, p, d_out] layout. Shapes are chosen to cover partial groups of experts and tokens,
// several example blocks per thread, and the wide-expert path.
#include <doctest/doctest.h>

#include <cmath>
#include <vector>

#include "gradcheck.hpp"
#include "softmoe/kernels/gemm.hpp"
#include "softmoe/kernels/parallel.hpp"
#include "softmoe/layers/softmoe.hpp"
#include "softmoe/rng.hpp"

using namespace softmoe;
using softmoe::testing::gradient_error;
using softmoe::testing::random_vector;
using softmoe::testing::weighted_sum;

namespace {

// Sets both thread pools for the lifetime of the object, then back to one thread.
struct Threads {
  explicit Threads(int count) { kernels::set_blas_threads(count); }
  ~Threads() { kernels::set_blas_threads(1); }
};

SoftMoeShape shape_of(int experts, int hidden, int slots, Normalize normalize, bool bias, Activation activation) {
  SoftMoeShape s;
  s.tokens = 5;  // one full group of four tokens and one partial
  s.dim = 40;
  s.experts = experts;
  s.slots = slots;
  s.hidden = hidden;
  s.dim_out = 24;
  s.expert_bias = bias;
  s.activation = activation;
  s.normalize = normalize;
  return s;
}

// One layer, its input, and the results of a forward and backward pass.
template <class T>
struct Run {
  SoftMoeShape shape;
  int B;
  ParamBuffer<T> params;
  SoftMoeParamIds ids;
  SoftMoeActivations<T> act;
  std::vector<T> x, y, r, dx;

  Run(const SoftMoeShape& s, int batch, bool store_slots = true)
      : shape(s), B(batch), ids(softmoe_register(params, s)), act(s, batch) {
    params.allocate();
    Rng rng(5, Stream::init);
    softmoe_init(ids.values(params, shape), shape, PhiInit::normal, rng);
    *params.value(ids.scale) = T(1.7);
    for (double v : random_vector(static_cast<std::size_t>(B) * s.tokens * s.dim, rng)) x.push_back(static_cast<T>(v));
    y.assign(static_cast<std::size_t>(B) * s.tokens * s.dim_out, T(0));
    for (double v : random_vector(y.size(), rng)) r.push_back(static_cast<T>(v));
    act.store_slots = store_slots;
  }

  double loss() {
    softmoe_forward(y.data(), act, x.data(), ids.values(params, shape), shape, B);
    double total = 0;
    for (std::size_t i = 0; i < y.size(); ++i) total += static_cast<double>(y[i]) * static_cast<double>(r[i]);
    return total;
  }

  void pass() {
    loss();
    dx.assign(x.size(), T(0));
    params.zero_grad();
    softmoe_backward(dx.data(), ids.grads(params, shape), r.data(), act, x.data(), ids.values(params, shape), shape, B);
  }

  // Everything a pass produces, concatenated.
  std::vector<double> results() const {
    std::vector<double> all(y.begin(), y.end());
    all.insert(all.end(), dx.begin(), dx.end());
    all.insert(all.end(), params.grads(), params.grads() + params.size());
    return all;
  }
};

double relative_difference(const std::vector<double>& a, const std::vector<double>& b) {
  REQUIRE(a.size() == b.size());
  double diff = 0, norm = 0;
  for (std::size_t i = 0; i < a.size(); ++i) {
    diff += (a[i] - b[i]) * (a[i] - b[i]);
    norm += b[i] * b[i];
  }
  return std::sqrt(diff / norm);
}

template <class T>
std::vector<double> results_with(int threads, const SoftMoeShape& s, int B, bool store_slots = true) {
  Threads pool(threads);
  Run<T> run(s, B, store_slots);
  run.pass();
  return run.results();
}

}  // namespace

TEST_CASE("engine threads: one and two threads agree, two threads repeat exactly") {
  for (int experts : {1, 6})
    for (int hidden : {7, 40})  // small experts in example blocks; wide ones in one block per thread
      for (int slots : {1, 2})
        for (auto normalize : {Normalize::none, Normalize::all}) {
          CAPTURE(experts);
          CAPTURE(hidden);
          CAPTURE(slots);
          CAPTURE(to_string(normalize));
          const SoftMoeShape s = shape_of(experts, hidden, slots, normalize, slots == 2, Activation::gelu);
          const int B = 150;  // several blocks per thread for hidden 7
          const auto one = results_with<double>(1, s, B);
          const auto two = results_with<double>(2, s, B);
          CHECK(relative_difference(two, one) < 1e-12);
          CHECK(results_with<double>(2, s, B) == two);
          CHECK(relative_difference(results_with<float>(2, s, B), one) < 1e-5);
        }
}

TEST_CASE("engine threads: fewer examples than threads") {
  const SoftMoeShape s = shape_of(3, 5, 1, Normalize::router, true, Activation::relu);
  CHECK(relative_difference(results_with<double>(2, s, 1), results_with<double>(1, s, 1)) < 1e-12);
}

TEST_CASE("engine threads: gradients match central differences, small and wide experts, one and two threads") {
  for (int threads : {1, 2})
    for (int hidden : {6, 33}) {  // 33: wide experts (no transposed weights; slot_out kept, not recomputed)
      CAPTURE(threads);
      CAPTURE(hidden);
      Threads pool(threads);
      SoftMoeShape s = shape_of(5, hidden, 2, Normalize::all, true, Activation::gelu);
      s.dim = 9;
      s.dim_out = 7;
      Run<double> run(s, 5, /*store_slots=*/false);
      run.pass();
      auto loss = [&] { return run.loss(); };
      CHECK(gradient_error(run.x.data(), run.dx.data(), run.dx.size(), loss) < 1e-6);
      for (const auto& entry : run.params.entries()) {
        CAPTURE(entry.name);
        CHECK(gradient_error(run.params.values() + entry.offset, run.params.grads() + entry.offset, entry.size, loss) <
              1e-6);
      }
    }
}

TEST_CASE("engine threads: storing the slot tensors changes nothing; slot_out is [n, B, p, d_out]") {
  for (int threads : {1, 2}) {
    CAPTURE(threads);
    const SoftMoeShape s = shape_of(6, 7, 2, Normalize::router, true, Activation::relu);
    const int B = 70;
    CHECK(results_with<double>(threads, s, B, false) == results_with<double>(threads, s, B, true));

    Threads pool(threads);
    Run<double> run(s, B);
    run.loss();
    const int m = s.tokens, S = s.total_slots(), p = s.slots, d_out = s.dim_out;
    double worst = 0;
    for (int b = 0; b < B; ++b)
      for (int i = 0; i < m; ++i)
        for (int k = 0; k < d_out; ++k) {
          double sum = 0;
          for (int sl = 0; sl < S; ++sl)
            sum += run.act.combine[(b * m + i) * S + sl] *
                   run.act.slot_out[(((sl / p) * static_cast<long>(B) + b) * p + sl % p) * d_out + k];
          worst = std::max(worst, std::abs(sum - run.y[(b * m + i) * d_out + k]));
        }
    CHECK(worst < 1e-12);
  }
}

TEST_CASE("engine threads: the pool runs every part once and nests inline") {
  Threads pool(2);
  CHECK(kernels::threads() == 2);
  std::vector<int> hits(1000, 0);
  kernels::parallel_for(1000, 1, [&](long begin, long end) {
    for (long i = begin; i < end; ++i) ++hits[i];
    kernels::parallel_for(10, 1, [&](long, long) {});  // nested: runs on this thread
  });
  for (int h : hits) CHECK(h == 1);
  CHECK(kernels::split(10, 0, 3).begin == 0);
  CHECK(kernels::split(10, 0, 3).end == 4);
  CHECK(kernels::split(10, 2, 3).end == 10);
}
