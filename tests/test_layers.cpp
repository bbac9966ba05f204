// Finite-difference checks of the elementwise, dense and loss layers, and the router's kernels.
#include <doctest/doctest.h>

#include <cstdint>
#include <vector>

#include "gradcheck.hpp"
#include "softmoe/layers/activation.hpp"
#include "softmoe/layers/linear.hpp"
#include "softmoe/layers/loss.hpp"
#include "softmoe/layers/routing.hpp"

using namespace softmoe;
using softmoe::testing::gradient_error;
using softmoe::testing::random_vector;
using softmoe::testing::weighted_sum;

constexpr double kTolerance = 1e-6;

TEST_CASE("linear: forward matches a hand computation") {
  // in [1, 2], weight [2, 2], bias [2]
  const std::vector<double> in{1, 2}, weight{1, 2, 3, 4}, bias{10, 20};
  std::vector<double> out(2);
  linear_forward(out.data(), in.data(), weight.data(), bias.data(), 1, 2, 2);
  CHECK(out[0] == doctest::Approx(15));
  CHECK(out[1] == doctest::Approx(31));
}

TEST_CASE("linear: gradients of input, weight and bias") {
  for (bool with_bias : {true, false}) {
    Rng rng(1, Stream::init);
    const int N = 3, I = 5, O = 4;
    auto in = random_vector(N * I, rng), weight = random_vector(O * I, rng), bias = random_vector(O, rng);
    const auto r = random_vector(N * O, rng);
    const double* b = with_bias ? bias.data() : nullptr;
    std::vector<double> out(N * O), din(N * I, 0), dweight(O * I, 0), dbias(O, 0);
    auto loss = [&] {
      linear_forward(out.data(), in.data(), weight.data(), b, N, I, O);
      return weighted_sum(out.data(), r);
    };
    loss();
    linear_backward(din.data(), dweight.data(), with_bias ? dbias.data() : nullptr, r.data(), in.data(),
                    weight.data(), N, I, O);
    CHECK(gradient_error(in.data(), din.data(), in.size(), loss) < kTolerance);
    CHECK(gradient_error(weight.data(), dweight.data(), weight.size(), loss) < kTolerance);
    if (with_bias) CHECK(gradient_error(bias.data(), dbias.data(), bias.size(), loss) < kTolerance);
  }
}

TEST_CASE("activations: forward values and gradients") {
  for (auto activation : {Activation::relu, Activation::gelu}) {
    CAPTURE(to_string(activation));
    Rng rng(2, Stream::init);
    auto in = random_vector(50, rng);
    for (auto& x : in)
      if (std::abs(x) < 1e-3) x = 0.5;  // keep away from ReLU's kink
    const auto r = random_vector(50, rng);
    std::vector<double> out(50), din(50, 0);
    auto loss = [&] {
      activation_forward(out.data(), in.data(), in.size(), activation);
      return weighted_sum(out.data(), r);
    };
    loss();
    activation_backward(din.data(), r.data(), in.data(), in.size(), activation);
    CHECK(gradient_error(in.data(), din.data(), in.size(), loss) < kTolerance);
  }
  const double x[3] = {-1.0, 0.0, 1.0};
  double y[3];
  activation_forward(y, x, 3, Activation::gelu);
  CHECK(y[0] == doctest::Approx(-0.15865525393145707).epsilon(1e-12));
  CHECK(y[2] == doctest::Approx(0.8413447460685429).epsilon(1e-12));
  CHECK_THROWS(parse_activation("tanh"));
}

TEST_CASE("softmax cross-entropy: value and gradient") {
  Rng rng(3, Stream::init);
  const int N = 4, K = 5;
  auto logits = random_vector(N * K, rng);
  const std::vector<std::int32_t> labels{0, 3, 4, 1};
  std::vector<double> probs(N * K), dlogits(N * K, 0);
  auto loss = [&] { return softmax_cross_entropy_forward(probs.data(), logits.data(), labels.data(), N, K); };
  loss();
  softmax_cross_entropy_backward(dlogits.data(), probs.data(), labels.data(), N, K);
  CHECK(gradient_error(logits.data(), dlogits.data(), logits.size(), loss) < kTolerance);

  const double uniform[3] = {0, 0, 0};
  double p[3];
  const std::int32_t label = 2;
  CHECK(softmax_cross_entropy_forward(p, uniform, &label, 1, 3) == doctest::Approx(std::log(3.0)));
  const double peaked[6] = {0, 5, 0, 9, 1, 2};
  const std::int32_t two_labels[2] = {1, 1};
  CHECK(count_correct(peaked, two_labels, 2, 3) == 1);
}

TEST_CASE("mean squared error: value and gradient") {
  Rng rng(4, Stream::init);
  auto pred = random_vector(7, rng);
  const auto target = random_vector(7, rng);
  std::vector<double> dpred(7, 0);
  auto loss = [&] { return mse_forward(pred.data(), target.data(), pred.size()); };
  mse_backward(dpred.data(), pred.data(), target.data(), pred.size());
  CHECK(gradient_error(pred.data(), dpred.data(), pred.size(), loss) < kTolerance);
  const double a[2] = {1, 3}, b[2] = {0, 1};
  CHECK(mse_forward(a, b, 2) == doctest::Approx(2.5));
}

TEST_CASE("router kernels: l2 normalisation of rows and scaled columns") {
  Rng rng(5, Stream::init);
  const int R = 3, d = 4, S = 5;
  auto rows_in = random_vector(R * d, rng);
  const auto r_rows = random_vector(R * d, rng);
  std::vector<double> rows_out(R * d), norms(R), drows(R * d, 0);
  auto rows_loss = [&] {
    l2_normalize_rows_forward(rows_out.data(), norms.data(), rows_in.data(), R, d);
    return weighted_sum(rows_out.data(), r_rows);
  };
  rows_loss();
  l2_normalize_rows_backward(drows.data(), r_rows.data(), rows_in.data(), norms.data(), R, d);
  CHECK(gradient_error(rows_in.data(), drows.data(), rows_in.size(), rows_loss) < kTolerance);

  auto cols_in = random_vector(d * S, rng);
  const auto r_cols = random_vector(d * S, rng);
  double scale = 1.7, dscale = 0;
  std::vector<double> cols_out(d * S), col_norms(S), dcols(d * S, 0);
  auto cols_loss = [&] {
    scaled_l2_normalize_columns_forward(cols_out.data(), col_norms.data(), cols_in.data(), scale, d, S);
    return weighted_sum(cols_out.data(), r_cols);
  };
  cols_loss();
  scaled_l2_normalize_columns_backward(dcols.data(), &dscale, r_cols.data(), cols_in.data(), col_norms.data(),
                                       scale, d, S);
  CHECK(gradient_error(cols_in.data(), dcols.data(), cols_in.size(), cols_loss) < kTolerance);
  CHECK(gradient_error(&scale, &dscale, 1, cols_loss) < kTolerance);
}

TEST_CASE("router kernels: both softmaxes") {
  Rng rng(6, Stream::init);
  const int B = 2, m = 3, S = 4;
  auto logits = random_vector(B * m * S, rng);
  const auto r = random_vector(B * m * S, rng);
  std::vector<double> probs(B * m * S), dlogits(B * m * S, 0);
  auto tokens_loss = [&] {
    softmax_tokens_forward(probs.data(), logits.data(), B, m, S);
    return weighted_sum(probs.data(), r);
  };
  tokens_loss();
  softmax_tokens_backward(dlogits.data(), r.data(), probs.data(), B, m, S);
  CHECK(gradient_error(logits.data(), dlogits.data(), logits.size(), tokens_loss) < kTolerance);

  std::fill(dlogits.begin(), dlogits.end(), 0.0);
  auto slots_loss = [&] {
    softmax_slots_forward(probs.data(), logits.data(), B * m, S);
    return weighted_sum(probs.data(), r);
  };
  slots_loss();
  softmax_slots_backward(dlogits.data(), r.data(), probs.data(), B * m, S);
  CHECK(gradient_error(logits.data(), dlogits.data(), logits.size(), slots_loss) < kTolerance);
}
