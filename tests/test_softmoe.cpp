// The Soft MoE layer: finite-difference gradients in every normalisation mode, slots per expert,
// biases and activations; the dispatch/combine invariants; token permutation equivariance.
#include <doctest/doctest.h>

#include <numeric>
#include <vector>

#include "gradcheck.hpp"
#include "softmoe/layers/softmoe.hpp"
#include "softmoe/models/moe_model.hpp"

using namespace softmoe;
using softmoe::testing::gradient_error;
using softmoe::testing::random_vector;
using softmoe::testing::weighted_sum;

namespace {

struct LayerFixture {
  SoftMoeShape shape;
  int B;
  ParamBuffer<double> params;
  SoftMoeParamIds ids;
  SoftMoeActivations<double> act;
  std::vector<double> x, y, r;

  LayerFixture(const SoftMoeShape& s, int batch, PhiInit phi_init = PhiInit::normal)
      : shape(s), B(batch), ids(softmoe_register(params, s)), act(s, batch) {
    params.allocate();
    Rng rng(11, Stream::init);
    softmoe_init(ids.values(params, shape), shape, phi_init, rng);
    *params.value(ids.scale) = 1.3;  // away from 1 so that its gradient is exercised
    x = random_vector(static_cast<std::size_t>(B) * s.tokens * s.dim, rng);
    y.resize(static_cast<std::size_t>(B) * s.tokens * s.dim_out);
    r = random_vector(y.size(), rng);
  }

  double loss() {
    softmoe_forward(y.data(), act, x.data(), ids.values(params, shape), shape, B);
    return weighted_sum(y.data(), r);
  }
};

SoftMoeShape small_shape(Normalize normalize, int slots, bool bias, Activation activation) {
  SoftMoeShape s;
  s.tokens = 3;
  s.dim = 4;
  s.experts = 3;
  s.slots = slots;
  s.hidden = 5;
  s.dim_out = 2;
  s.expert_bias = bias;
  s.activation = activation;
  s.normalize = normalize;
  return s;
}

}  // namespace

TEST_CASE("softmoe: input and parameter gradients match central differences") {
  for (auto normalize : {Normalize::none, Normalize::router, Normalize::all})
    for (int slots : {1, 2})
      for (bool bias : {false, true})
        for (auto activation : {Activation::relu, Activation::gelu}) {
          CAPTURE(to_string(normalize));
          CAPTURE(slots);
          CAPTURE(bias);
          CAPTURE(to_string(activation));
          LayerFixture f(small_shape(normalize, slots, bias, activation), 2);
          f.loss();
          std::vector<double> dx(f.x.size(), 0.0);
          f.params.zero_grad();
          softmoe_backward(dx.data(), f.ids.grads(f.params, f.shape), f.r.data(), f.act, f.x.data(),
                           f.ids.values(f.params, f.shape), f.shape, f.B);
          auto loss = [&] { return f.loss(); };
          CHECK(gradient_error(f.x.data(), dx.data(), dx.size(), loss) < 1e-6);
          for (const auto& entry : f.params.entries()) {
            CAPTURE(entry.name);
            const double error = gradient_error(f.params.values() + entry.offset, f.params.grads() + entry.offset,
                                                entry.size, loss);
            if (entry.name == "router.scale" && normalize == Normalize::none)
              CHECK(f.params.grads()[entry.offset] == 0.0);  // unused without normalisation
            else
              CHECK(error < 1e-6);
          }
        }
}

TEST_CASE("softmoe: the routing ablations' gradients match central differences; constant D and C pass none") {
  for (Mixing mixing : {Mixing::soft_uniform_combine, Mixing::uniform_soft, Mixing::uniform, Mixing::identity})
    for (Normalize normalize : {Normalize::none, Normalize::all}) {
      CAPTURE(to_string(mixing));
      CAPTURE(to_string(normalize));
      SoftMoeShape s = small_shape(normalize, 1, true, Activation::gelu);
      s.mixing = mixing;  // identity: 3 experts x 1 slot = 3 tokens
      LayerFixture f(s, 2);
      f.loss();
      if (mixing == Mixing::identity) {
        CHECK(f.act.dispatch[0] == 1.0);
        CHECK(f.act.dispatch[1] == 0.0);
        CHECK(f.act.combine[4] == 1.0);
      }
      std::vector<double> dx(f.x.size(), 0.0);
      f.params.zero_grad();
      softmoe_backward(dx.data(), f.ids.grads(f.params, f.shape), f.r.data(), f.act, f.x.data(),
                       f.ids.values(f.params, f.shape), f.shape, f.B);
      auto loss = [&] { return f.loss(); };
      CHECK(gradient_error(f.x.data(), dx.data(), dx.size(), loss) < 1e-6);
      for (const auto& entry : f.params.entries()) {
        CAPTURE(entry.name);
        const bool router = entry.name.rfind("router.", 0) == 0;
        const bool unused = router && (mixing == Mixing::uniform || mixing == Mixing::identity ||
                                       (entry.name == "router.scale" && normalize == Normalize::none));
        if (unused) {
          for (std::size_t i = 0; i < entry.size; ++i) CHECK(f.params.grads()[entry.offset + i] == 0.0);
        } else {
          CHECK(gradient_error(f.params.values() + entry.offset, f.params.grads() + entry.offset, entry.size, loss) <
                1e-6);
        }
      }
    }
}

TEST_CASE("softmoe: backward without an input gradient gives the same parameter gradients") {
  LayerFixture f(small_shape(Normalize::all, 2, true, Activation::gelu), 3);
  f.loss();
  std::vector<double> dx(f.x.size(), 0.0);
  f.params.zero_grad();
  softmoe_backward(dx.data(), f.ids.grads(f.params, f.shape), f.r.data(), f.act, f.x.data(),
                   f.ids.values(f.params, f.shape), f.shape, f.B);
  const std::vector<double> with_dx(f.params.grads(), f.params.grads() + f.params.size());
  f.params.zero_grad();
  softmoe_backward(static_cast<double*>(nullptr), f.ids.grads(f.params, f.shape), f.r.data(), f.act,
                   f.x.data(), f.ids.values(f.params, f.shape), f.shape, f.B);
  for (std::size_t i = 0; i < with_dx.size(); ++i) CHECK(f.params.grads()[i] == doctest::Approx(with_dx[i]));
}

TEST_CASE("softmoe: dispatch columns and combine rows sum to one") {
  for (auto normalize : {Normalize::none, Normalize::router, Normalize::all}) {
    LayerFixture f(small_shape(normalize, 2, false, Activation::relu), 3, PhiInit::uniform);
    f.loss();
    const int m = f.shape.tokens, S = f.shape.total_slots();
    for (int b = 0; b < f.B; ++b) {
      for (int s = 0; s < S; ++s) {
        double column = 0;
        for (int i = 0; i < m; ++i) column += f.act.dispatch[(b * m + i) * S + s];
        CHECK(column == doctest::Approx(1.0).epsilon(1e-12));
      }
      for (int i = 0; i < m; ++i) {
        double row = 0;
        for (int s = 0; s < S; ++s) row += f.act.combine[(b * m + i) * S + s];
        CHECK(row == doctest::Approx(1.0).epsilon(1e-12));
      }
    }
  }
}

TEST_CASE("softmoe: permuting the tokens permutes the output") {
  for (auto normalize : {Normalize::none, Normalize::router, Normalize::all}) {
    LayerFixture f(small_shape(normalize, 2, true, Activation::gelu), 2);
    f.loss();
    const std::vector<double> y = f.y;
    const int m = f.shape.tokens, d = f.shape.dim, d_out = f.shape.dim_out;
    const int order[3] = {2, 0, 1};
    std::vector<double> permuted(f.x.size());
    for (int b = 0; b < f.B; ++b)
      for (int i = 0; i < m; ++i)
        for (int k = 0; k < d; ++k) permuted[(b * m + i) * d + k] = f.x[(b * m + order[i]) * d + k];
    f.x = permuted;
    f.loss();
    for (int b = 0; b < f.B; ++b)
      for (int i = 0; i < m; ++i)
        for (int k = 0; k < d_out; ++k)
          CHECK(f.y[(b * m + i) * d_out + k] == doctest::Approx(y[(b * m + order[i]) * d_out + k]).epsilon(1e-12));
  }
}

TEST_CASE("softmoe: one expert with one slot sees a single convex combination (Theorem 1's premise)") {
  // X = [x; -x] with x orthogonal to every Phi column: the dispatch is uniform, the slot input is 0
  // whatever the length of x, so the output cannot depend on that length.
  SoftMoeShape s = small_shape(Normalize::router, 1, true, Activation::relu);
  s.experts = 1;
  s.tokens = 2;
  LayerFixture f(s, 2);
  double* phi = f.params.value(f.ids.phi);  // [d, 1]
  for (int k = 0; k < s.dim; ++k) phi[k] = k == 0 ? 1.0 : 0.0;
  f.x = {0, 1, 2, 0, 0, -1, -2, 0, 0, 10, 20, 0, 0, -10, -20, 0};
  f.loss();
  for (int k = 0; k < s.tokens * s.dim_out; ++k) CHECK(f.y[k] == doctest::Approx(f.y[s.tokens * s.dim_out + k]));
}

TEST_CASE("model: whole-model parameter gradients through the head") {
  MoeModelConfig config;
  config.moe = small_shape(Normalize::router, 2, true, Activation::relu);
  config.outputs = 3;
  MoeModel<double> model(config, 4);
  Rng rng(7, Stream::init);
  model.init(rng);
  const int B = 4;
  auto x = random_vector(static_cast<std::size_t>(B) * config.moe.tokens * config.moe.dim, rng);
  const auto r = random_vector(static_cast<std::size_t>(B) * config.outputs, rng);
  auto loss = [&] { return weighted_sum(model.forward(x.data(), B), r); };
  loss();
  model.params().zero_grad();
  model.backward(r.data(), B);
  auto& params = model.params();
  for (const auto& entry : params.entries()) {
    CAPTURE(entry.name);
    CHECK(gradient_error(params.values() + entry.offset, params.grads() + entry.offset, entry.size, loss) < 1e-6);
  }
  const auto& s = config.moe;
  CHECK(model.expert_param_count() ==
        static_cast<std::size_t>(s.experts) * (s.dim * s.hidden + s.hidden * s.dim_out + s.hidden + s.dim_out));
}
