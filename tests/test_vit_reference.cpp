// The ViT layers against PyTorch: fixtures from tests/reference/make_vit_fixtures.py (float64 autograd
// through the stock torch modules) hold inputs, parameters under PyTorch's state_dict names, outputs and
// gradients of sum(y * dy). Every output and gradient must agree norm-wise, ||ours - theirs|| / ||theirs||,
// to 1e-9 in double and 1e-5 in float; every tensor of a fixture must be used.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <set>
#include <string>
#include <vector>

#include "softmoe/io/safetensors.hpp"
#include "softmoe/layers/attention.hpp"
#include "softmoe/layers/embedding.hpp"
#include "softmoe/layers/layernorm.hpp"
#include "softmoe/layers/pooling.hpp"
#include "vit_block.hpp"
#include "fixture_checker.hpp"
#include "relative_error.hpp"

using namespace softmoe;

namespace {

using namespace softmoe::test;

template <class T>
void check_layernorm(double tolerance) {
  const SafetensorsFile f = fixture("vit_layernorm");
  Checker c{f, tolerance, {}};
  const int B = meta_int(f, "batch"), L = meta_int(f, "tokens"), D = meta_int(f, "dim");
  const std::vector<std::size_t> shape{sz(B), sz(L), sz(D)};
  ParamBuffer<T> params;
  const auto ids = layernorm_register(params, D);
  params.allocate();
  c.load_params(params);
  const auto x = c.input<T>("x", shape);
  const auto dy = c.input<T>("dy", shape);
  std::vector<T> y(x.size()), dx(x.size(), T(0)), mean(sz(B * L)), rstd(sz(B * L));
  const auto w = ids.values(params);
  const auto g = ids.grads(params);
  layernorm_forward(y.data(), mean.data(), rstd.data(), x.data(), w.weight, w.bias, B * L, D);
  layernorm_backward(dx.data(), g.weight, g.bias, dy.data(), x.data(), mean.data(), rstd.data(), w.weight,
                     B * L, D);
  c.expect("y", y.data(), shape);
  c.expect("dx", dx.data(), shape);
  c.expect_grads(params);
  c.all_used();
}

// `perturb` is added to in_proj_weight[0] after loading, to show that the comparison notices it.
template <class T>
double check_attention(double tolerance, double perturb = 0) {
  const SafetensorsFile f = fixture("vit_attention");
  Checker c{f, tolerance, {}};
  const int B = meta_int(f, "batch");
  const AttentionShape s{meta_int(f, "tokens"), meta_int(f, "dim"), meta_int(f, "heads")};
  const std::vector<std::size_t> shape{sz(B), sz(s.tokens), sz(s.dim)};
  ParamBuffer<T> params;
  const auto ids = attention_register(params, s);
  params.allocate();
  c.load_params(params);
  params.value(ids.in_proj_weight)[0] += static_cast<T>(perturb);
  const auto x = c.input<T>("x", shape);
  const auto dy = c.input<T>("dy", shape);
  AttentionActivations<T> act(s, B);
  std::vector<T> y(x.size()), dx(x.size(), T(0));
  attention_forward(y.data(), act, x.data(), ids.values(params), s, B);
  attention_backward(dx.data(), ids.grads(params), dy.data(), act, x.data(), ids.values(params), s, B);
  c.expect("y", y.data(), shape);
  c.expect("dx", dx.data(), shape);
  c.expect_grads(params);
  c.all_used();
  return c.worst;
}

template <class T>
void check_patch_embed(double tolerance) {
  const SafetensorsFile f = fixture("vit_patch_embed");
  Checker c{f, tolerance, {}};
  const int B = meta_int(f, "batch");
  const PatchEmbedShape s{meta_int(f, "rows"), meta_int(f, "cols"), meta_int(f, "patch"), meta_int(f, "dim"),
                          f.metadata().at("class_token") == "true"};
  ParamBuffer<T> params;
  const auto ids = patch_embed_register(params, s);
  params.allocate();
  c.load_params(params);
  const auto images = c.input<T>("images", {sz(B), sz(s.rows), sz(s.cols)});
  const std::vector<std::size_t> shape{sz(B), sz(s.tokens()), sz(s.dim)};
  const auto dy = c.input<T>("dy", shape);
  PatchEmbedActivations<T> act(s, B);
  std::vector<T> y(dy.size()), dimages(images.size(), T(0));
  patch_embed_forward(y.data(), act, images.data(), ids.values(params, s), s, B);
  patch_embed_backward(dimages.data(), ids.grads(params, s), dy.data(), act, ids.values(params, s), s, B);
  c.expect("y", y.data(), shape);
  c.expect("dimages", dimages.data(), {sz(B), sz(s.rows), sz(s.cols)});
  c.expect_grads(params);
  c.all_used();
}

template <class T>
void check_pool(double tolerance) {
  const SafetensorsFile f = fixture("vit_pool");
  Checker c{f, tolerance, {}};
  const int B = meta_int(f, "batch"), L = meta_int(f, "tokens"), D = meta_int(f, "dim");
  const std::vector<std::size_t> shape{sz(B), sz(L), sz(D)};
  const auto x = c.input<T>("x", shape);
  const auto dy = c.input<T>("dy", {sz(B), sz(D)});
  for (auto pool : {Pool::mean, Pool::cls}) {
    const std::string mode = to_string(pool);
    std::vector<T> y(dy.size()), dx(x.size(), T(0));
    pool_forward(y.data(), x.data(), B, L, D, pool);
    pool_backward(dx.data(), dy.data(), B, L, D, pool);
    c.expect("y_" + mode, y.data(), {sz(B), sz(D)});
    c.expect("dx_" + mode, dx.data(), shape);
  }
  c.all_used();
}

template <class T>
void check_block(double tolerance) {
  const SafetensorsFile f = fixture("vit_block");
  Checker c{f, tolerance, {}};
  const int B = meta_int(f, "batch"), L = meta_int(f, "tokens"), D = meta_int(f, "dim");
  REQUIRE(meta_int(f, "mlp_hidden") == 4 * D);
  softmoe::testing::TestBlock<T> block(B, L, D, meta_int(f, "heads"));
  c.load_params(block.params);
  const std::vector<std::size_t> shape{sz(B), sz(L), sz(D)};
  const auto x = c.input<T>("x", shape);
  const auto dy = c.input<T>("dy", shape);
  std::vector<T> dx(x.size(), T(0));
  c.expect("y", block.forward(x.data()), shape);
  block.backward(dx.data(), dy.data(), x.data());
  c.expect("dx", dx.data(), shape);
  c.expect_grads(block.params);
  c.all_used();
}

}  // namespace

TEST_CASE("vit reference: LayerNorm matches nn.LayerNorm") {
  check_layernorm<double>(kDoubleTolerance);
  check_layernorm<float>(kFloatTolerance);
}

TEST_CASE("vit reference: attention matches nn.MultiheadAttention") {
  check_attention<double>(kDoubleTolerance);
  check_attention<float>(kFloatTolerance);
}

TEST_CASE("vit reference: patch embedding matches nn.Conv2d + class token + position embedding") {
  check_patch_embed<double>(kDoubleTolerance);
  check_patch_embed<float>(kFloatTolerance);
}

TEST_CASE("vit reference: mean and class-token pooling") {
  check_pool<double>(kDoubleTolerance);
  check_pool<float>(kFloatTolerance);
}

TEST_CASE("vit reference: a whole pre-LN transformer block, forward and backward") {
  check_block<double>(kDoubleTolerance);
  check_block<float>(kFloatTolerance);
}

TEST_CASE("vit reference: the comparison notices a wrong parameter") {
  CHECK(check_attention<double>(-1, 0.0) <= kDoubleTolerance);
  CHECK(check_attention<double>(-1, 1e-6) > 100 * kDoubleTolerance);
}
