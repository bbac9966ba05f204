// The sparse routers against PyTorch: fixtures from tests/reference/make_router_fixtures.py (float64
// autograd) hold inputs, parameters, the scaled noise, outputs, the kept pairs, the auxiliary loss and
// every gradient of sum(y dy) + aux_weight aux.
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "fixture_checker.hpp"
#include "softmoe/layers/sparse_moe.hpp"

using namespace softmoe;
using namespace softmoe::test;

namespace {

SparseMoeShape sparse_shape_of(const SafetensorsFile& f) {
  SparseMoeShape s;
  const std::string& router = meta(f, "router");
  s.routing = router == "tokens-choice"    ? SparseRouting::tokens_choice
              : router == "experts-choice" ? SparseRouting::experts_choice
                                           : SparseRouting::dense;
  s.tokens = meta_int(f, "tokens");
  s.dim = meta_int(f, "dim");
  s.experts = meta_int(f, "experts");
  s.hidden = meta_int(f, "hidden");
  s.dim_out = meta_int(f, "dim_out");
  s.expert_bias = meta(f, "expert_bias") == "1";
  s.activation = parse_activation(meta(f, "activation"));
  s.k = meta_int(f, "router_k");
  s.capacity_factor = std::stod(meta(f, "capacity_factor"));
  s.group_images = meta_int(f, "group_images");
  s.bpr = meta(f, "bpr") == "1";
  s.aux = value_named(meta(f, "aux_loss"), kAuxLossNames, "auxiliary loss");
  s.aux_weight = std::stod(meta(f, "aux_weight"));
  s.noise_std = meta(f, "noise") == "1" ? std::stod(meta(f, "noise_std")) : 0.0;
  return s;
}

// Forward and backward of one fixture; `perturb` is added to the first input value (sensitivity check).
template <class T>
double check_router(const std::string& name, double tolerance, double perturb = 0) {
  const SafetensorsFile f = fixture("router_" + name);
  REQUIRE(meta(f, "kind") == "router");
  Checker c{f, tolerance, {}};
  const SparseMoeShape s = sparse_shape_of(f);
  const int B = meta_int(f, "batch");
  const auto m = sz(s.tokens), d = sz(s.dim), d_out = sz(s.dim_out), n = sz(s.experts);
  ParamBuffer<T> params;
  const SparseMoeParamIds ids = sparse_moe_register(params, s);
  params.allocate();
  c.load_params(params);
  auto x = c.input<T>("x", {sz(B), m, d});
  x[0] += static_cast<T>(perturb);
  const auto dy = c.input<T>("dy", {sz(B), m, d_out});
  std::vector<T> noise;
  if (s.routed()) noise = c.input<T>("noise", {sz(B), m, n});
  SparseMoeActivations<T> act(s, B);
  std::vector<T> y(sz(B) * m * d_out), dx(x.size(), T(0));
  sparse_moe_forward(y.data(), act, x.data(), s.noise_std > 0 ? noise.data() : nullptr, ids.values(params, s), B);
  params.zero_grad();
  sparse_moe_backward(dx.data(), ids.grads(params, s), dy.data(), act, x.data(), ids.values(params, s), B);
  std::vector<T> kept(act.kept.begin(), act.kept.begin() + sz(B) * m * n);
  c.expect("out.kept", kept.data(), {sz(B), m, n});
  c.expect("out.y", y.data(), {sz(B), m, d_out});
  const T aux = act.aux;
  if (s.aux == AuxLoss::none) c.input<T>("out.aux", {1});  // zero by construction
  else c.expect("out.aux", &aux, {1});
  c.expect("grad.x", dx.data(), {sz(B), m, d});
  c.expect_grads(params);
  c.all_used();
  return c.worst;
}

const char* const kFixtures[] = {"tc_k1", "tc_k2_bpr", "tc_k2", "tc_k1_tight", "ec_c1", "ec_c2", "dense"};

}  // namespace

TEST_CASE("sparse routers match PyTorch in double") {
  for (const char* name : kFixtures) {
    CAPTURE(name);
    check_router<double>(name, kDoubleTolerance);
  }
}

TEST_CASE("sparse routers match PyTorch in float") {
  for (const char* name : kFixtures) {
    CAPTURE(name);
    check_router<float>(name, kFloatTolerance);
  }
}

TEST_CASE("sparse router comparison is sensitive: a perturbed input fails it") {
  CHECK(check_router<double>("tc_k2_bpr", -1.0, 1e-4) > 1e-7);
}
