// The sparse routers: vmoe's test vectors, capacities, the auxiliary losses by hand and by finite
// differences, and the whole layer's gradients by central finite differences with the selection held fixed.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "gradcheck.hpp"
#include "softmoe/layers/aux_loss.hpp"
#include "softmoe/layers/sparse_moe.hpp"
#include "softmoe/rng.hpp"

using namespace softmoe;
using softmoe::testing::gradient_error;
using softmoe::testing::random_vector;
using softmoe::testing::weighted_sum;

namespace {

// The note's gates: 3 tokens, 3 experts.
const double kGates[9] = {.4, 0, .2, .5, .1, .4, .3, .2, .6};

std::vector<int> kept_after_selection(const SparseMoeShape& shape) {
  SparseMoeActivations<double> act(shape, 1);
  std::copy(kGates, kGates + 9, act.gates.begin());
  sparse_select(act, 1);
  return std::vector<int>(act.kept.begin(), act.kept.begin() + 9);
}

SparseMoeShape test_vector_shape(SparseRouting routing) {
  SparseMoeShape s;
  s.routing = routing;
  s.tokens = 3, s.dim = 2, s.experts = 3, s.hidden = 2, s.dim_out = 2;
  s.k = 2, s.group_images = 1;
  s.capacity_factor = routing == SparseRouting::tokens_choice ? 1.0 : 2.0;  // C = 2 either way
  return s;
}

}  // namespace

TEST_CASE("tokens choice: vmoe's vanilla and BPR test vectors (K = 2, C = 2)") {
  SparseMoeShape s = test_vector_shape(SparseRouting::tokens_choice);
  REQUIRE(sparse_capacity(s, 3) == 2);
  // vanilla: t0 (e0, e2); t1 (e0); t2 (e2)
  CHECK(kept_after_selection(s) == std::vector<int>{1, 0, 1, 1, 0, 0, 0, 0, 1});
  s.bpr = true;  // BPR: t0 (e0); t1 (e0, e2); t2 (e2)
  CHECK(kept_after_selection(s) == std::vector<int>{1, 0, 0, 1, 0, 1, 0, 0, 1});
}

TEST_CASE("experts choice: vmoe's test vector (C = 2)") {
  const SparseMoeShape s = test_vector_shape(SparseRouting::experts_choice);
  REQUIRE(sparse_capacity(s, 3) == 2);
  // e0 takes t1, t0; e1 takes t2, t1; e2 takes t2, t1
  CHECK(kept_after_selection(s) == std::vector<int>{1, 0, 0, 1, 1, 1, 0, 1, 1});
}

TEST_CASE("capacities: Tokens Choice ceil(S K c / n), Experts Choice round(S c / n) with a floor of 1") {
  SparseMoeShape s;
  s.tokens = 4, s.experts = 8, s.k = 1, s.capacity_factor = 1.0;
  CHECK(sparse_capacity(s, 32) == 4);
  s.capacity_factor = 1.25;
  CHECK(sparse_capacity(s, 32) == 5);
  s.k = 2;
  CHECK(sparse_capacity(s, 32) == 10);
  s.experts = 512, s.k = 1, s.capacity_factor = 1.0;
  CHECK(sparse_capacity(s, 32) == 1);  // multiple of 1: not rounded up to 4
  s.routing = SparseRouting::experts_choice;
  s.experts = 64, s.capacity_factor = 1.0;
  CHECK(experts_choice_rounded_capacity(s, 32) == 1);  // 0.5 rounds half up
  s.experts = 128;
  CHECK(experts_choice_rounded_capacity(s, 32) == 0);
  CHECK(sparse_capacity(s, 32) == 1);
  s.experts = 2, s.capacity_factor = 2.0;
  CHECK(sparse_capacity(s, 4) == 4);  // at most S
}

TEST_CASE("tokens choice: a partial last group has its own capacity; drops and realised factor are counted") {
  SparseMoeShape s;
  s.routing = SparseRouting::tokens_choice;
  s.tokens = 2, s.dim = 1, s.experts = 2, s.hidden = 1, s.dim_out = 1, s.k = 1, s.group_images = 2;
  SparseMoeActivations<double> act(s, 3);
  // every token prefers expert 0: groups of 4 and 2 tokens, capacities 2 and 1
  for (int t = 0; t < 6; ++t) act.gates[2 * t] = 0.9, act.gates[2 * t + 1] = 0.1;
  sparse_select(act, 3);
  CHECK(act.last.groups == 2);
  CHECK(act.last.choices == 6);
  CHECK(act.last.dropped == 3);   // 2 of the first group, 1 of the second
  CHECK(act.last.capacity == 6);  // 2 * 2 + 2 * 1
  CHECK(act.last.realised_capacity_factor() == doctest::Approx(1.0));
  CHECK(act.last.min_per_expert == 0);
  CHECK(act.last.max_per_expert == 2);
  CHECK(act.kept[0] == 1);  // tokens 0, 1 (first group) and 4 (second group) keep expert 0
  CHECK(act.kept[2] == 1);
  CHECK(act.kept[4] == 0);
  CHECK(act.kept[8] == 1);
  CHECK(act.kept[10] == 0);
  CHECK(act.offset[1] == 3);
}

TEST_CASE("auxiliary losses: hand-computed values") {
  const std::vector<double> v{1, 2, 3};  // mean 2, population variance 2/3
  CHECK(cv_squared(v.data(), 3) == doctest::Approx((2.0 / 3.0) / 4.0));
  std::vector<double> scratch(6);
  std::vector<int> iscratch(6);
  // two tokens over two experts: importance (0.9 + 0.3, 0.1 + 0.7) = (1.2, 0.8): CV2 = 0.04 / 1
  const std::vector<double> probs{0.9, 0.1, 0.3, 0.7};
  CHECK(importance_loss(probs.data(), 2, 2, scratch.data()) == doctest::Approx(0.04));
  // switch: top-1 shares (0.5, 0.5), mean gates (0.6, 0.4): 2 * (0.3 + 0.2) = 1
  CHECK(switch_loss(probs.data(), 2, 2, scratch.data()) == doctest::Approx(1.0));
  // load, k = 1, one token, clean = noisy logits (0, 0): tau = 0, p = (0.5, 0.5): CV2 = 0
  const std::vector<double> zeros{0, 0};
  CHECK(load_loss(zeros.data(), zeros.data(), 1, 2, 1, 1.0, scratch.data(), iscratch.data()) == doctest::Approx(0.0));
  // clean (0, -1), noisy (0.5, -1), sigma 1: tau = 0.5, p = (1 - Phi(0.5), 1 - Phi(1.5))
  const std::vector<double> clean{0, -1}, noisy{0.5, -1};
  const double p0 = 0.5 * std::erfc(0.5 / std::sqrt(2.0)), p1 = 0.5 * std::erfc(1.5 / std::sqrt(2.0));
  const double mean = (p0 + p1) / 2, var = ((p0 - mean) * (p0 - mean) + (p1 - mean) * (p1 - mean)) / 2;
  CHECK(load_loss(clean.data(), noisy.data(), 1, 2, 1, 1.0, scratch.data(), iscratch.data()) ==
        doctest::Approx(var / (mean * mean)));
}

TEST_CASE("auxiliary losses: gradients by central finite differences") {
  Rng rng(3, Stream::init);
  const int S = 5, n = 4, k = 2;
  std::vector<double> scratch(2 * n);
  std::vector<int> iscratch(2 * n);
  std::vector<double> v = random_vector(n, rng);
  for (double& x : v) x = 2 + std::abs(x);
  std::vector<double> dv(n, 0.0);
  cv_squared_backward(dv.data(), v.data(), n, 1.0);
  CHECK(gradient_error(v.data(), dv.data(), n, [&] { return cv_squared(v.data(), n); }) < 1e-6);

  std::vector<double> probs(S * n);
  for (double& p : probs) p = 0.1 + rng.uniform();
  std::vector<double> dprobs(S * n, 0.0);
  importance_loss_backward(dprobs.data(), probs.data(), S, n, 1.0, scratch.data());
  CHECK(gradient_error(probs.data(), dprobs.data(), probs.size(),
                       [&] { return importance_loss(probs.data(), S, n, scratch.data()); }) < 1e-6);
  std::fill(dprobs.begin(), dprobs.end(), 0.0);
  switch_loss_backward(dprobs.data(), probs.data(), S, n, 1.0, scratch.data());
  CHECK(gradient_error(probs.data(), dprobs.data(), probs.size(),
                       [&] { return switch_loss(probs.data(), S, n, scratch.data()); }) < 1e-6);

  // load: clean and noisy logits are one tensor plus fixed noise, as in the layer
  std::vector<double> clean = random_vector(S * n, rng), noise = random_vector(S * n, rng, 0.3);
  std::vector<double> noisy(S * n), dclean(S * n, 0.0);
  const double sigma = 0.3;
  const auto refresh = [&] {
    for (int i = 0; i < S * n; ++i) noisy[i] = clean[i] + noise[i];
  };
  refresh();
  load_loss_backward(dclean.data(), dclean.data(), clean.data(), noisy.data(), S, n, k, sigma, 1.0, scratch.data(),
                     iscratch.data());
  CHECK(gradient_error(clean.data(), dclean.data(), clean.size(), [&] {
          refresh();
          return load_loss(clean.data(), noisy.data(), S, n, k, sigma, scratch.data(), iscratch.data());
        }) < 1e-6);
}

namespace {

struct LayerCase {
  const char* name;
  SparseMoeShape shape;
  bool noise;
};

SparseMoeShape case_shape(SparseRouting routing, int n, int k, double c, int G, bool bpr, AuxLoss aux, double weight,
                          Activation activation, bool bias) {
  SparseMoeShape s;
  s.routing = routing;
  s.tokens = 3, s.dim = 5, s.experts = n, s.hidden = 4, s.dim_out = 3;
  s.k = k, s.capacity_factor = c, s.group_images = G, s.bpr = bpr, s.aux = aux, s.aux_weight = weight;
  s.activation = activation, s.expert_bias = bias;
  return s;
}

// Every parameter tensor, the input, by central differences of sum(y dy) + aux_weight aux in double, with
// the selection checked to be the same at every perturbed point.
void check_layer_gradients(const LayerCase& c) {
  CAPTURE(c.name);
  const SparseMoeShape& s = c.shape;
  const int B = 5, n = s.experts;
  ParamBuffer<double> params;
  const SparseMoeParamIds ids = sparse_moe_register(params, s);
  params.allocate();
  Rng rng(11, Stream::init);
  sparse_moe_init(ids.values(params, s), s, rng);
  if (s.routed())  // router logits of order 1, so gates are far from uniform
    for (long i = 0; i < static_cast<long>(s.dim) * n; ++i) ids.values(params, s).router[i] *= 3;
  const long tokens = static_cast<long>(B) * s.tokens;
  std::vector<double> x = random_vector(tokens * s.dim, rng);
  std::vector<double> noise = random_vector(tokens * n, rng, s.noise_std / n);
  const std::vector<double> dy = random_vector(tokens * s.dim_out, rng);
  SparseMoeActivations<double> act(s, B);
  std::vector<double> y(tokens * s.dim_out), dx(x.size(), 0.0);
  const double* noise_in = c.noise ? noise.data() : nullptr;
  sparse_moe_forward(y.data(), act, x.data(), noise_in, ids.values(params, s), B);
  const std::vector<std::uint8_t> selection(act.kept.begin(), act.kept.begin() + tokens * n);
  CHECK(act.last.kept > 0);
  params.zero_grad();
  sparse_moe_backward(dx.data(), ids.grads(params, s), dy.data(), act, x.data(), ids.values(params, s), B);
  long flips = 0;
  const auto loss = [&] {
    sparse_moe_forward(y.data(), act, x.data(), noise_in, ids.values(params, s), B);
    if (!std::equal(selection.begin(), selection.end(), act.kept.begin())) ++flips;
    return weighted_sum(y.data(), dy) + s.aux_weight * act.aux;
  };
  CHECK(gradient_error(x.data(), dx.data(), x.size(), loss) < 1e-6);
  for (const ParamEntry& e : params.entries()) {
    CAPTURE(e.name);
    CHECK(gradient_error(params.values() + e.offset, params.grads() + e.offset, e.size, loss) < 1e-6);
  }
  CHECK(flips == 0);
}

}  // namespace

TEST_CASE("sparse layer: gradients of inputs, router and experts by central finite differences") {
  using R = SparseRouting;
  const LayerCase cases[] = {
      {"tokens-choice K=1", case_shape(R::tokens_choice, 3, 1, 1.0, 2, false, AuxLoss::none, 0, Activation::relu, false), false},
      {"tokens-choice K=2 BPR importance,load noise",
       case_shape(R::tokens_choice, 4, 2, 1.0, 2, true, AuxLoss::importance_load, 0.5, Activation::gelu, true), true},
      {"tokens-choice K=2 c=0.5 switch", case_shape(R::tokens_choice, 4, 2, 0.5, 3, false, AuxLoss::switch_balance, 0.3,
                                                   Activation::gelu, true), false},
      {"tokens-choice K=1 importance without noise",
       case_shape(R::tokens_choice, 3, 1, 1.25, 5, true, AuxLoss::importance_load, 0.2, Activation::relu, true), false},
      {"experts-choice c=1", case_shape(R::experts_choice, 4, 1, 1.0, 2, false, AuxLoss::none, 0, Activation::gelu, true), false},
      {"experts-choice c=2 G=1", case_shape(R::experts_choice, 3, 1, 2.0, 1, false, AuxLoss::none, 0, Activation::relu, false), false},
      {"dense", case_shape(R::dense, 1, 1, 1.0, 1, false, AuxLoss::none, 0, Activation::gelu, true), false},
  };
  for (LayerCase c : cases) {
    if (c.noise) c.shape.noise_std = 1.0;
    check_layer_gradients(c);
  }
}

TEST_CASE("sparse layer: without noise (evaluation) the auxiliary loss is the importance loss of the gates") {
  SparseMoeShape s = case_shape(SparseRouting::tokens_choice, 4, 2, 1.0, 5, false, AuxLoss::importance_load, 1.0,
                                Activation::relu, false);
  s.noise_std = 1.0;
  ParamBuffer<double> params;
  const SparseMoeParamIds ids = sparse_moe_register(params, s);
  params.allocate();
  Rng rng(5, Stream::init);
  sparse_moe_init(ids.values(params, s), s, rng);
  const int B = 5;
  const std::vector<double> x = random_vector(static_cast<std::size_t>(B) * s.tokens * s.dim, rng);
  const std::vector<double> noise = random_vector(static_cast<std::size_t>(B) * s.tokens * s.experts, rng, 0.25);
  SparseMoeActivations<double> act(s, B);
  std::vector<double> y(static_cast<std::size_t>(B) * s.tokens * s.dim_out), scratch(2 * s.experts);
  sparse_moe_forward(y.data(), act, x.data(), noise.data(), ids.values(params, s), B);  // training: both losses
  const double with_noise = act.aux;
  sparse_moe_forward(y.data(), act, x.data(), static_cast<const double*>(nullptr), ids.values(params, s), B);
  CHECK(act.aux == doctest::Approx(importance_loss(act.gates.data(), B * s.tokens, s.experts, scratch.data())));
  CHECK(with_noise != doctest::Approx(act.aux));
}
