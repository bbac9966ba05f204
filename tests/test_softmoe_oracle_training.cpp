// The fast training paths (softmoe_forward, softmoe_backward; float and double) against the readable
// reference (layers/reference/soft_moe_reference.hpp) in double; backward against the reference's exact
// derivatives (dual numbers). Covered: the three normalisations, p = 1 and 2, biases on and off, ReLU and
// GELU, n = 5 experts (a full group of four and a partial one), h = 3 (slot outputs recomputed by
// backward, transposed weight copies), h = 16 (slot outputs kept) and h = 40 (wide: one example block per
// thread, no transposed copies), slot tensors stored or not, one and two engine threads, and a shape whose
// batch spans several example blocks per thread.
#include <doctest/doctest.h>

#include "softmoe_oracle.hpp"

using namespace softmoe;
using namespace softmoe::test;

namespace {

// Every normalisation x slots x (bias, activation) x width x threads: 144 small cases.
std::vector<Case> grid() {
  std::vector<Case> cases;
  int index = 0;
  for (auto normalize : {Normalize::none, Normalize::router, Normalize::all})
    for (int p : {1, 2})
      for (bool bias : {false, true})
        for (auto activation : {Activation::relu, Activation::gelu})
          for (int h : {3, 16, 40})
            for (int threads : {1, 2}) {
              Case c;
              c.shape = make_shape(5, 12, 5, p, h, 7, normalize, bias, activation);
              c.B = 6;
              c.threads = threads;
              c.store_slots = index++ % 3 == 0;  // mostly the training setting (not stored)
              cases.push_back(c);
            }
  return cases;
}

// Several example blocks per thread: for h < 32 a block holds max(8, 640 KiB / ((m + 8 p)(d + d_out) sizeof T))
// examples, which is 8 here in float and in double, so B = 19 is 3 blocks on one thread, 2 on each of two.
Case blocked(int threads, bool store_slots, Normalize normalize) {
  Case c;
  c.shape = make_shape(4, 150, 5, 8, 3, 140, normalize, true, Activation::gelu);
  c.B = 19;
  c.threads = threads;
  c.store_slots = store_slots;
  return c;
}

#define CAPTURE_CASE(c)                                  \
  CAPTURE(std::string(to_string((c).shape.normalize)));             \
  CAPTURE((c).shape.slots);                              \
  CAPTURE((c).shape.expert_bias);                        \
  CAPTURE(std::string(to_string((c).shape.activation)));             \
  CAPTURE((c).shape.hidden);                             \
  CAPTURE((c).threads);                                  \
  CAPTURE((c).store_slots)

}  // namespace

TEST_CASE("softmoe oracle: the training forward, float and double, equals the reference") {
  for (const Case& c : grid()) {
    CAPTURE_CASE(c);
    CHECK(forward_error<float>(c) < kFloatTolerance);
    CHECK(forward_error<double>(c) < kDoubleTolerance);
  }
}

TEST_CASE("softmoe oracle: the training backward equals the reference's exact directional derivatives") {
  for (const Case& c : grid()) {
    CAPTURE_CASE(c);
    const BackwardError f = backward_error<float>(c, 2);
    CAPTURE(f.tensor);
    CHECK(f.error < kFloatTolerance);
    const BackwardError d = backward_error<double>(c, 1);  // one direction per tensor: a third of the time
    CAPTURE(d.tensor);
    CHECK(d.error < kDoubleTolerance);
  }
}

TEST_CASE("softmoe oracle: every gradient component of a small layer equals the reference's derivative") {
  for (auto normalize : {Normalize::none, Normalize::router, Normalize::all})
    for (auto activation : {Activation::relu, Activation::gelu})
      for (int threads : {1, 2}) {
        Case c;
        c.shape = make_shape(3, 4, 3, 2, 5, 2, normalize, true, activation);
        c.B = 3;
        c.threads = threads;
        CAPTURE_CASE(c);
        const BackwardError f = backward_error<float>(c, 0);  // 0: every basis direction
        CAPTURE(f.tensor);
        CHECK(f.error < kFloatTolerance);
        const BackwardError d = backward_error<double>(c, 0);
        CAPTURE(d.tensor);
        CHECK(d.error < kDoubleTolerance);
      }
}

TEST_CASE("softmoe oracle: a batch of several example blocks per thread, forward and backward") {
  for (int threads : {1, 2})
    for (bool store_slots : {false, true}) {
      const Case c = blocked(threads, store_slots, threads == 1 ? Normalize::all : Normalize::router);
      CAPTURE_CASE(c);
      CHECK(forward_error<float>(c) < kFloatTolerance);
      CHECK(forward_error<double>(c) < kDoubleTolerance);
      if (store_slots) continue;  // backward recomputes the slot tensors block by block only when not stored
      const BackwardError f = backward_error<float>(c, 1);
      CAPTURE(f.tensor);
      CHECK(f.error < kFloatTolerance);
      const BackwardError d = backward_error<double>(c, 1);
      CAPTURE(d.tensor);
      CHECK(d.error < kDoubleTolerance);
    }
}
