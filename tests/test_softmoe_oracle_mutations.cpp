// The oracle can fail: the comparisons of test_softmoe_oracle_training.cpp and _selection.cpp, run against a
// deliberately broken reference, must give errors far above their tolerance, for the training forward, the
// backward, the scores, the top-k mask, and both inference paths (narrow and grouped), with both combines.
// Mutations: raw_combine (combine = raw logits, no softmax over slots), no_renormalize (the renormalised
// combine replaced by the original C), ties_to_higher (top-k ties to the higher index).
#include <doctest/doctest.h>

#include "softmoe_oracle.hpp"

using namespace softmoe;
using namespace softmoe::test;

namespace {

// "far above": a hundred times the tolerance
constexpr double kFar = 100;

Case training_case(int h, Normalize normalize, int threads) {
  Case c;
  c.shape = make_shape(5, 12, 5, 2, h, 7, normalize, true, Activation::gelu);
  c.B = 6;
  c.threads = threads;
  return c;
}

SelectionCase selection_case(int h, Normalize normalize) {
  SelectionCase c;
  c.shape = make_shape(5, 21, 13, 2, h, 19, normalize, true, Activation::relu);
  c.B = 23;
  c.threads = 2;
  c.k = 4;
  return c;
}

}  // namespace

TEST_CASE("softmoe oracle mutations: without the combine softmax, forward and backward comparisons fail") {
  for (int h : {3, 40})
    for (auto normalize : {Normalize::none, Normalize::all}) {
      const Case c = training_case(h, normalize, h == 3 ? 1 : 2);
      CAPTURE(h);
      CAPTURE(std::string(to_string(normalize)));
      CHECK(forward_error<float>(c) < kFloatTolerance);  // the same case passes unmutated
      CHECK(forward_error<float>(c, Mutation::raw_combine) > kFar * kFloatTolerance);
      CHECK(forward_error<double>(c, Mutation::raw_combine) > kFar * kFloatTolerance);
      const BackwardError f = backward_error<float>(c, 2, Mutation::raw_combine);
      CAPTURE(f.tensor);
      CHECK(f.error > kFar * kFloatTolerance);
      const BackwardError d = backward_error<double>(c, 2, Mutation::raw_combine);
      CHECK(d.error > kFar * kFloatTolerance);
    }
}

TEST_CASE("softmoe oracle mutations: without the combine softmax, the scores and both inference paths fail") {
  for (int h : {3, 12})  // narrow, grouped
    for (auto normalize : {Normalize::none, Normalize::router, Normalize::all}) {
      CAPTURE(h);
      CAPTURE(std::string(to_string(normalize)));
      const SelectionErrors e = selection_errors(selection_case(h, normalize), Mutation::raw_combine);
      CHECK(e.scores > kFar * kFloatTolerance);
      for (double error : {e.top_k[0], e.top_k[1], e.random[0], e.random[1]}) CHECK(error > kFar * kFloatTolerance);
    }
}

TEST_CASE("softmoe oracle mutations: skipping the renormalisation fails the renormalised paths only") {
  for (int h : {3, 12})
    for (auto normalize : {Normalize::router, Normalize::all}) {
      CAPTURE(h);
      CAPTURE(std::string(to_string(normalize)));
      const SelectionErrors e = selection_errors(selection_case(h, normalize), Mutation::no_renormalize);
      CHECK(e.top_k[0] < kFloatTolerance);  // the original combine is untouched by the mutation
      CHECK(e.random[0] < kFloatTolerance);
      CHECK(e.top_k[1] > kFar * kFloatTolerance);
      CHECK(e.random[1] > kFar * kFloatTolerance);
    }
}

TEST_CASE("softmoe oracle mutations: top-k ties to the higher index disagree with keep_top_k") {
  const int B = 50, n = 9, k = 3;
  std::vector<float> scores(static_cast<std::size_t>(B) * n);
  for (std::size_t i = 0; i < scores.size(); ++i) scores[i] = static_cast<float>(i % 4) * 0.25f;  // many ties
  const std::vector<double> wide(scores.begin(), scores.end());
  std::vector<std::uint8_t> fast(scores.size()), expected(scores.size());
  keep_top_k(fast.data(), scores.data(), B, n, k);
  reference::top_k(expected.data(), wide.data(), B, n, k);
  CHECK(fast == expected);
  reference::top_k(expected.data(), wide.data(), B, n, k, Mutation::ties_to_higher);
  int mismatches = 0;
  for (std::size_t i = 0; i < fast.size(); ++i) mismatches += fast[i] != expected[i];
  CHECK(mismatches > B);  // more than one flipped expert per input on average
}
