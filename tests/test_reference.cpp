// The engine against PyTorch: fixtures from tests/reference/make_fixtures.py (float64 autograd) hold
// inputs, parameters, outputs and gradients. Every output and gradient must agree norm-wise,
// ||ours - theirs|| / ||theirs||, to 1e-9 in double and 1e-5 in float.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <set>
#include <string>
#include <vector>

#include "softmoe/io/safetensors.hpp"
#include "softmoe/layers/loss.hpp"
#include "softmoe/layers/softmoe.hpp"
#include "softmoe/models/moe_model.hpp"
#include "softmoe/optim.hpp"
#include "fixture_checker.hpp"
#include "relative_error.hpp"

using namespace softmoe;

namespace {

using namespace softmoe::test;

SoftMoeShape shape_of(const SafetensorsFile& f) {
  SoftMoeShape s;
  s.tokens = meta_int(f, "tokens");
  s.dim = meta_int(f, "dim");
  s.experts = meta_int(f, "experts");
  s.slots = meta_int(f, "slots");
  s.hidden = meta_int(f, "hidden");
  s.dim_out = meta_int(f, "dim_out");
  s.expert_bias = meta_bool(f, "expert_bias");
  s.activation = parse_activation(meta(f, "activation"));
  s.normalize = parse_normalize(meta(f, "normalize"));
  if (f.metadata().count("mixing")) s.mixing = value_named(meta(f, "mixing"), kMixingNames, "mixing");
  return s;
}


// One layer forward and backward with the upstream gradient dy; checks y, dx, parameter gradients.
// `perturb` is added to the first Phi entry after loading (to show that the comparison is sensitive).
// Returns the largest relative error.
template <class T>
double check_layer(const std::string& name, double tolerance, double perturb = 0) {
  const SafetensorsFile f = fixture(name);
  REQUIRE(meta(f, "kind") == "layer");
  Checker c{f, tolerance, {}};
  const SoftMoeShape s = shape_of(f);
  const int B = meta_int(f, "batch");
  const auto m = sz(s.tokens), d = sz(s.dim), d_out = sz(s.dim_out);
  ParamBuffer<T> params;
  const SoftMoeParamIds ids = softmoe_register(params, s);
  params.allocate();
  c.load_params(params);
  params.value(ids.phi)[0] += static_cast<T>(perturb);
  const auto x = c.input<T>("x", {sz(B), m, d});
  const auto dy = c.input<T>("dy", {sz(B), m, d_out});
  SoftMoeActivations<T> act(s, B);
  std::vector<T> y(sz(B) * m * d_out), dx(x.size(), T(0));
  softmoe_forward(y.data(), act, x.data(), ids.values(params, s), s, B);
  params.zero_grad();
  softmoe_backward(dx.data(), ids.grads(params, s), dy.data(), act, x.data(), ids.values(params, s), s, B);
  c.expect("y", y.data(), {sz(B), m, d_out});
  c.expect("dx", dx.data(), {sz(B), m, d});
  c.expect_grads(params);
  c.all_used();
  return c.worst;
}

// The whole model: output, loss and every parameter gradient.
template <class T>
void check_model(const std::string& name, double tolerance) {
  const SafetensorsFile f = fixture(name);
  REQUIRE(meta(f, "kind") == "model");
  Checker c{f, tolerance, {}};
  MoeModelConfig config;
  config.moe = shape_of(f);
  config.outputs = meta_int(f, "outputs");
  config.head_bias = meta_bool(f, "head_bias");
  const int B = meta_int(f, "batch");
  const auto K = sz(config.outputs);
  MoeModel<T> model(config, B);
  c.load_params(model.params());
  const auto x = c.input<T>("x", {sz(B), sz(config.moe.tokens), sz(config.moe.dim)});
  const T* out = model.forward(x.data(), B);
  c.expect("out", out, {sz(B), K});
  std::vector<T> dout(sz(B) * K, T(0));
  T loss = 0;
  if (meta(f, "loss") == "cross_entropy") {
    const auto labels = c.input<std::int32_t>("labels", {sz(B)});
    std::vector<T> probs(dout.size());
    loss = softmax_cross_entropy_forward(probs.data(), out, labels.data(), B, config.outputs);
    softmax_cross_entropy_backward(dout.data(), probs.data(), labels.data(), B, config.outputs);
  } else {
    REQUIRE(meta(f, "loss") == "mse");
    const auto target = c.input<T>("target", {sz(B), K});
    loss = mse_forward(out, target.data(), dout.size());
    mse_backward(dout.data(), out, target.data(), dout.size());
  }
  c.expect("loss", &loss, {});
  model.params().zero_grad();
  model.backward(dout.data(), B);
  c.expect_grads(model.params());
  c.all_used();
}

// `steps` optimizer updates from the fixture's gradients; the parameters after every step.
template <class T>
void check_optimizer(const std::string& name, double tolerance) {
  const SafetensorsFile f = fixture(name);
  REQUIRE(meta(f, "kind") == "optim");
  Checker c{f, tolerance, {}};
  const std::vector<std::size_t> shape = f.tensor("params").shape;
  const auto steps = sz(meta_int(f, "steps"));
  std::vector<std::size_t> stacked{steps};
  stacked.insert(stacked.end(), shape.begin(), shape.end());
  auto params = c.input<T>("params", shape);
  const auto grads = c.input<T>("grads", stacked);
  std::vector<T> after;
  OptimizerConfig config;
  config.kind = parse_optimizer(meta(f, "optimizer"));
  config.lr = std::stod(meta(f, "lr"));
  config.weight_decay = std::stod(meta(f, "weight_decay"));
  config.momentum = std::stod(meta(f, "momentum"));
  Optimizer<T> optimizer(config, params.size());
  for (std::size_t t = 0; t < steps; ++t) {
    optimizer.step(params.data(), grads.data() + t * params.size());
    after.insert(after.end(), params.begin(), params.end());
  }
  c.expect("after", after.data(), stacked);
  c.all_used();
}

const char* const kLayerCases[] = {"layer_none_p1_bias_relu",     "layer_none_p2_nobias_gelu",
                                   "layer_router_p1_nobias_gelu", "layer_router_p2_bias_relu",
                                   "layer_all_p1_nobias_relu",    "layer_all_p2_bias_gelu"};
const char* const kModelCases[] = {"model_cross_entropy", "model_mse"};
const char* const kOptimizerCases[] = {"optim_adam", "optim_adam_l2", "optim_adamw", "optim_sgd"};

}  // namespace

TEST_CASE("reference: Soft MoE layer forward and backward match PyTorch") {
  for (const std::string name : kLayerCases) {
    CAPTURE(name);
    check_layer<double>(name, kDoubleTolerance);
    check_layer<float>(name, kFloatTolerance);
  }
}

TEST_CASE("reference: the routing ablations (constant dispatch and/or combine) match PyTorch") {
  for (const char* name : {"layer_all_p1_bias_gelu_soft-uniform-combine", "layer_router_p2_nobias_relu_uniform-soft",
                           "layer_none_p1_bias_gelu_uniform", "layer_all_p2_bias_relu_identity"}) {
    CAPTURE(name);
    check_layer<double>(name, kDoubleTolerance);
    check_layer<float>(name, kFloatTolerance);
  }
}

TEST_CASE("reference: whole model, loss and gradients match PyTorch") {
  for (const std::string name : kModelCases) {
    CAPTURE(name);
    check_model<double>(name, kDoubleTolerance);
    check_model<float>(name, kFloatTolerance);
  }
}

TEST_CASE("reference: optimizer steps match torch.optim") {
  for (const std::string name : kOptimizerCases) {
    CAPTURE(name);
    check_optimizer<double>(name, kDoubleTolerance);
    check_optimizer<float>(name, kFloatTolerance);
  }
}

TEST_CASE("reference: the comparison notices a wrong parameter") {
  // Phi[0] off by 1e-6 moves y and the gradients by far more than the double tolerance.
  CHECK(check_layer<double>("layer_all_p2_bias_gelu", -1, 0.0) <= kDoubleTolerance);
  CHECK(check_layer<double>("layer_all_p2_bias_gelu", -1, 1e-6) > 100 * kDoubleTolerance);
}
