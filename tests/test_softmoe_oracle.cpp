// Every fast path of the Soft MoE against the reference (layers/reference/soft_moe_reference.hpp, in
// double): the training forward and backward (float and double instantiations; exact derivatives of the
// reference through dual numbers), and the inference paths (scores, top-k and random masks, the narrow
// and grouped kept-expert paths, original and renormalised combine). Tolerances: softmoe_oracle.hpp.
#include <doctest/doctest.h>

#include "softmoe_oracle.hpp"

using namespace softmoe;
using namespace softmoe::test;

namespace {

// Shapes that reach every branch of the fast code: narrow (h = 3) and wide (h = 40) experts, n not a
// multiple of the expert group of 4, m not a multiple of 4, p > 1, biases and none, both activations, all
// three normalisations; batches of 1 and 33 examples.
std::vector<Case> training_cases() {
  std::vector<Case> cases;
  for (Normalize normalize : {Normalize::none, Normalize::router, Normalize::all})
    for (int threads : {1, 2}) {
      cases.push_back({make_shape(4, 6, 5, 1, 3, 6, normalize, false, Activation::relu), 3, threads, false});
      cases.push_back({make_shape(3, 5, 6, 2, 40, 4, normalize, true, Activation::gelu), 33, threads, false});
      cases.push_back({make_shape(5, 4, 3, 2, 8, 4, normalize, true, Activation::relu), 1, threads, true});
      cases.push_back({make_shape(6, 7, 9, 1, 17, 7, normalize, false, Activation::gelu), 9, threads, true});
    }
  return cases;
}

std::string describe(const SoftMoeShape& s, int B, int threads) {
  return "m=" + std::to_string(s.tokens) + " d=" + std::to_string(s.dim) + " n=" + std::to_string(s.experts) +
         " p=" + std::to_string(s.slots) + " h=" + std::to_string(s.hidden) + " normalize=" + to_string(s.normalize) +
         " bias=" + std::to_string(s.expert_bias) + " " + to_string(s.activation) + " B=" + std::to_string(B) +
         " threads=" + std::to_string(threads);
}

}  // namespace

TEST_CASE("reference oracle: the training forward, float and double, matches the reference") {
  for (const Case& c : training_cases()) {
    CAPTURE(describe(c.shape, c.B, c.threads));
    CHECK(forward_error<float>(c) < tolerance<float>());
    CHECK(forward_error<double>(c) < tolerance<double>());
  }
}

TEST_CASE("reference oracle: the training backward matches the reference's exact derivatives") {
  for (const Case& c : training_cases()) {
    CAPTURE(describe(c.shape, c.B, c.threads));
    const BackwardError f = backward_error<float>(c, 3);
    CAPTURE(f.tensor);
    CHECK(f.error < tolerance<float>());
    const BackwardError d = backward_error<double>(c, 3);
    CAPTURE(d.tensor);
    CHECK(d.error < tolerance<double>());
  }
  // one small shape direction by direction: the whole gradient of every tensor
  const Case small{make_shape(3, 4, 3, 2, 2, 3, Normalize::router, true, Activation::gelu), 2, 1, false};
  const BackwardError whole = backward_error<double>(small, 0);
  CAPTURE(whole.tensor);
  CHECK(whole.error < tolerance<double>());
}

TEST_CASE("reference oracle: scores, top-k and random masks, and the narrow and grouped kept-expert paths") {
  for (Normalize normalize : {Normalize::none, Normalize::router, Normalize::all})
    for (int threads : {1, 2})
      for (const SelectionCase& c :
           {SelectionCase{make_shape(4, 6, 8, 1, 3, 6, normalize, true, Activation::relu), 7, threads, 3},     // narrow
            SelectionCase{make_shape(5, 9, 6, 2, 8, 5, normalize, false, Activation::gelu), 5, threads, 2},    // narrow, p 2
            SelectionCase{make_shape(4, 6, 7, 1, 20, 6, normalize, false, Activation::gelu), 11, threads, 4},  // grouped
            SelectionCase{make_shape(6, 5, 5, 2, 12, 4, normalize, true, Activation::relu), 3, threads, 1}}) { // grouped, p 2
        CAPTURE(describe(c.shape, c.B, c.threads));
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
