// The oracle can fail: the same comparisons as test_softmoe_oracle.cpp against a reference with a
// deliberate bug must report errors far above their tolerance.
#include <doctest/doctest.h>

#include "softmoe_oracle.hpp"

using namespace softmoe;
using namespace softmoe::test;

TEST_CASE("reference oracle mutations: a reference without the combine softmax fails every comparison") {
  const Case c{make_shape(4, 6, 5, 2, 3, 6, Normalize::router, true, Activation::gelu), 4, 1, false};
  CHECK(forward_error<float>(c) < tolerance<float>());  // the unmutated reference agrees
  CHECK(forward_error<double>(c, Mutation::raw_combine) > 1e-2);
  CHECK(forward_error<float>(c, Mutation::raw_combine) > 1e-2);
  CHECK(backward_error<double>(c, 3, Mutation::raw_combine).error > 1e-2);
  const SelectionErrors e =
      selection_errors({make_shape(4, 6, 8, 1, 3, 6, Normalize::all, true, Activation::relu), 7, 1, 3}, Mutation::raw_combine);
  CHECK(e.scores > 1e-2);
  CHECK(e.top_k[0] > 1e-2);
}

TEST_CASE("reference oracle mutations: skipping the renormalisation fails the renormalised paths only") {
  for (int h : {3, 20}) {  // narrow and grouped
    CAPTURE(h);
    const SelectionErrors e =
        selection_errors({make_shape(4, 6, 7, 1, h, 6, Normalize::router, false, Activation::gelu), 6, 1, 2},
                         Mutation::no_renormalize);
    CHECK(e.top_k[0] < kFloatTolerance);
    CHECK(e.top_k[1] > 1e-2);
    CHECK(e.random[1] > 1e-2);
  }
}

TEST_CASE("reference oracle mutations: top-k with ties broken the other way disagrees with keep_top_k") {
  // Ties in real scores are rare, so the scores are given.
  const int B = 2, n = 6, k = 3;
  std::vector<float> scores{0.5f, 0.5f, 0.5f, 0.5f, 0.2f, 0.9f, 1.0f, 1.0f, 1.0f, 1.0f, 1.0f, 1.0f};
  std::vector<std::uint8_t> fast(B * n), ref(B * n), mutated(B * n);
  keep_top_k(fast.data(), scores.data(), B, n, k);
  reference::top_k(ref.data(), scores.data(), B, n, k);
  reference::top_k(mutated.data(), scores.data(), B, n, k, Mutation::ties_to_higher);
  CHECK(fast == ref);
  CHECK(fast != mutated);
}
