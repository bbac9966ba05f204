// The inference paths of expert subset selection (route_batch, keep_top_k, keep_random, run_kept_experts)
// against the readable reference in double: the scores, the top-k mask, and the outputs of the narrow path
// (h <= 8, input by input) and of the grouped path (h > 8, one GEMM pair per expert), with the original
// and the renormalised combine, p = 1 and 2, the three normalisations, biases and activations, one and
// two engine threads.
#include <doctest/doctest.h>

#include "softmoe_oracle.hpp"

using namespace softmoe;
using namespace softmoe::test;

namespace {

// width x normalisation x slots x threads: 48 cases; bias and activation cycle so that each width
// meets all four of their combinations. n = 13 experts, k = 4 kept (an input keeps about a third).
std::vector<SelectionCase> grid() {
  std::vector<SelectionCase> cases;
  int index = 0;
  for (int h : {3, 8, 12, 40})  // narrow, narrow at the limit, grouped, grouped and wide
    for (auto normalize : {Normalize::none, Normalize::router, Normalize::all})
      for (int p : {1, 2})
        for (int threads : {1, 2}) {
          const bool bias = index % 2 == 1;
          const auto activation = index / 2 % 2 == 0 ? Activation::relu : Activation::gelu;
          ++index;
          SelectionCase c;
          c.shape = make_shape(h == 8 ? 6 : 5, 21, 13, p, h, 19, normalize, bias, activation);  // 21, 19: not SIMD multiples
          c.B = 23;
          c.threads = threads;
          c.k = 4;
          cases.push_back(c);
        }
  return cases;
}

#define CAPTURE_SELECTION(c)                   \
  CAPTURE((c).shape.hidden);                   \
  CAPTURE(std::string(to_string((c).shape.normalize)));   \
  CAPTURE((c).shape.slots);                    \
  CAPTURE((c).shape.expert_bias);              \
  CAPTURE(std::string(to_string((c).shape.activation)));  \
  CAPTURE((c).threads)

}  // namespace

TEST_CASE("softmoe oracle: scores, top-k masks and both inference paths equal the reference") {
  for (const SelectionCase& c : grid()) {
    CAPTURE_SELECTION(c);
    const SelectionErrors e = selection_errors(c);
    CHECK(e.scores < kFloatTolerance);
    CHECK(e.mask_mismatches == 0);
    CHECK(e.random_wrong_rows == 0);
    CHECK(e.top_k[0] < kFloatTolerance);
    CHECK(e.top_k[1] < kFloatTolerance);
    CHECK(e.random[0] < kFloatTolerance);
    CHECK(e.random[1] < kFloatTolerance);
  }
}

TEST_CASE("softmoe oracle: keeping every expert or none; k = 1 and k = n - 1") {
  for (int h : {3, 40})
    for (int k : {0, 1, 12, 13}) {
      CAPTURE(h);
      CAPTURE(k);
      SelectionCase c;
      c.shape = make_shape(4, 10, 13, 2, h, 9, Normalize::all, true, Activation::relu);
      c.B = 9;
      c.threads = 2;
      c.k = k;
      const SelectionErrors e = selection_errors(c);
      CHECK(e.mask_mismatches == 0);
      CHECK(e.random_wrong_rows == 0);
      for (double error : {e.top_k[0], e.top_k[1], e.random[0], e.random[1]}) CHECK(error < kFloatTolerance);
    }
}

TEST_CASE("softmoe oracle: with all experts kept, the inference paths equal the reference's full layer") {
  for (int h : {3, 12})
    for (auto normalize : {Normalize::none, Normalize::router, Normalize::all}) {
      CAPTURE(h);
      CAPTURE(std::string(to_string(normalize)));
      SelectionCase c;
      c.shape = make_shape(5, 16, 6, 2, h, 8, normalize, true, Activation::gelu);
      c.B = 11;
      c.k = c.shape.experts;
      Threads pool(1);
      Layer<float> layer(c.shape, c.B, 5);
      SelectionWorkspace ws(c.shape, c.B);
      route_batch(ws, layer.x.data(), layer.w(), c.shape, c.B);
      std::fill(ws.keep.begin(), ws.keep.end(), std::uint8_t{1});
      std::vector<float> y(layer.r.size());
      run_kept_experts(y.data(), ws, layer.x.data(), layer.w(), c.shape, c.B, /*renormalize=*/true, nullptr);
      std::vector<double> p = layer.params_in_double(), x(layer.x.begin(), layer.x.end()), expected(y.size());
      reference::forward(expected.data(), x.data(), tensors_in(p.data(), layer.params, layer.ids, c.shape), c.shape,
                         c.B);  // no keep mask: the training layer's definition
      CHECK(relative_error(y.data(), expected) < kFloatTolerance);
    }
}

TEST_CASE("softmoe oracle: top-k ties go to the lower index, as in the reference") {
  // Scores on a coarse grid, so that most inputs have ties at the k-th place.
  const int B = 200, n = 9;
  Rng rng(4, Stream::test_data);
  std::vector<float> scores(static_cast<std::size_t>(B) * n);
  for (auto& v : scores) v = static_cast<float>(rng.below(4)) * 0.25f - (rng.below(8) == 0 ? 0.0f : 0.5f);
  scores[0] = -0.0f, scores[1] = 0.0f;  // -0 and +0 are equal scores
  const std::vector<double> wide(scores.begin(), scores.end());
  for (int k = 0; k <= n; ++k) {
    CAPTURE(k);
    std::vector<std::uint8_t> fast(scores.size()), expected(scores.size());
    keep_top_k(fast.data(), scores.data(), B, n, k);
    reference::top_k(expected.data(), wide.data(), B, n, k);
    CHECK(fast == expected);
  }
}
