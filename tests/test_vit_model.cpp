// The whole Vision Transformer: central finite differences of every parameter gradient (double), the
// parameter names, expert subsets in every Soft MoE layer (forward_selected) against forward() and a
// reference assembled by hand. The training recipe's pieces are in test_train_recipe.cpp.
#include <doctest/doctest.h>

#include <cmath>
#include <cstdint>
#include <set>
#include <string>
#include <vector>

#include "gradcheck.hpp"
#include "softmoe/kernels/gemm.hpp"
#include "softmoe/layers/layernorm.hpp"
#include "softmoe/layers/linear.hpp"
#include "softmoe/layers/loss.hpp"
#include "softmoe/layers/pooling.hpp"
#include "softmoe/models/vit.hpp"
#include "softmoe/rng.hpp"

using namespace softmoe;
using softmoe::testing::gradient_error;
using softmoe::testing::random_vector;
using softmoe::testing::weighted_sum;

namespace {

constexpr double kStart = 0.5;  // gradient buffers start here: backward must accumulate

// 8x8 images, patch 4 (4 patches), D = 8, two heads, two blocks: block 0 dense, block 1 Soft MoE.
VitConfig tiny_config(Pool pool, bool moe_residual) {
  VitConfig c;
  c.rows = c.cols = 8;
  c.patch = 4;
  c.dim = 8;
  c.depth = 2;
  c.heads = 2;
  c.mlp_hidden = 12;
  c.pool = pool;
  c.moe_layers = {1};
  c.moe_residual = moe_residual;
  c.experts = 3;
  c.slots = 2;
  c.expert_hidden = 5;
  c.normalize = Normalize::router;
  c.classes = 4;
  return c;
}

// init, then every parameter moved by noise: LayerNorm weights away from 1, biases and the class token
// away from 0, router.scale away from 1, so that no part of a gradient is trivially zero.
template <class T>
void init_perturbed(VitModel<T>& model, std::uint64_t seed) {
  Rng rng(seed, Stream::init);
  model.init(rng);
  auto& params = model.params();
  for (std::size_t i = 0; i < params.size(); ++i) params.values()[i] += static_cast<T>(0.3 * rng.normal());
}

template <class T>
std::vector<T> random_images(const VitConfig& c, int B, std::uint64_t seed) {
  Rng rng(seed, Stream::data);
  std::vector<T> images(static_cast<std::size_t>(B) * c.rows * c.cols);
  for (auto& v : images) v = static_cast<T>(rng.normal());
  return images;
}

double relative_difference(const float* a, const float* b, std::size_t n) {
  double diff = 0, norm = 0;
  for (std::size_t i = 0; i < n; ++i) {
    diff += (static_cast<double>(a[i]) - b[i]) * (static_cast<double>(a[i]) - b[i]);
    norm += static_cast<double>(b[i]) * b[i];
  }
  return std::sqrt(diff / norm);
}

// The loss is sum(logits r) plus the auxiliary losses of sparse routers, whose noise is drawn afresh
// from the same seed at every evaluation. The sparse routers' router gradients are small enough for
// round-off to reach 4e-6 at the default step: they use 1e-5 (truncation stays far below 1e-6).
void check_gradients(const VitConfig& config, double step = 1e-6) {
  const int B = 3;
  VitModel<double> model(config, B);
  init_perturbed(model, 31);
  const auto images = random_images<double>(config, B, 32);
  Rng rng(33, Stream::data);
  const auto r = random_vector(static_cast<std::size_t>(B) * config.classes, rng);
  auto loss = [&] {
    model.set_training(true, 5);
    const double task = weighted_sum(model.forward(images.data(), B), r);
    return task + model.auxiliary_loss();
  };
  loss();
  auto& params = model.params();
  std::fill(params.grads(), params.grads() + params.size(), kStart);
  model.backward(r.data(), B);
  for (const auto& e : params.entries()) {
    CAPTURE(e.name);
    std::vector<double> g(params.grads() + e.offset, params.grads() + e.offset + e.size);
    for (auto& v : g) v -= kStart;
    CHECK(gradient_error(params.values() + e.offset, g.data(), e.size, loss, step) < 1e-6);
  }
}

}  // namespace

TEST_CASE("vit model: every parameter gradient matches central differences") {
  for (auto pool : {Pool::cls, Pool::mean})
    for (bool residual : {true, false}) {
      CAPTURE(to_string(pool));
      CAPTURE(residual);
      check_gradients(tiny_config(pool, residual));
    }
  SUBCASE("MoE first, normalisation all, one slot; and the dense baseline") {
    VitConfig c = tiny_config(Pool::cls, true);
    c.moe_layers = {0};
    c.normalize = Normalize::all;
    c.slots = 1;
    check_gradients(c);
    c.experts = 0;
    check_gradients(c);
  }
  SUBCASE("sparse routers in the MoE blocks: Tokens Choice with noise and both losses, Experts Choice") {
    VitConfig c = tiny_config(Pool::cls, true);
    c.moe_layers = {0, 1};
    c.slots = 1;
    SparseMoeShape tc;
    tc.routing = SparseRouting::tokens_choice;
    tc.k = 2, tc.capacity_factor = 1.0, tc.group_images = 2, tc.bpr = true, tc.noise_std = 1.0;
    tc.aux = AuxLoss::importance_load, tc.aux_weight = 0.3;
    c.router = tc;
    INFO("tokens choice, importance and load");
    check_gradients(c, 1e-5);
    c.moe_residual = false;
    tc.aux = AuxLoss::switch_balance, tc.noise_std = 0.0;
    c.router = tc;
    INFO("tokens choice, switch, no residual");
    check_gradients(c, 1e-5);
    SparseMoeShape ec;
    ec.routing = SparseRouting::experts_choice;
    ec.capacity_factor = 1.0, ec.group_images = 2, ec.noise_std = 1.0;
    c.router = ec;
    check_gradients(c, 1e-5);
  }
}

TEST_CASE("vit model: parameter names, shapes and expert counts") {
  const VitConfig c = tiny_config(Pool::cls, true);
  VitModel<float> model(c, 2);
  std::vector<std::string> names;
  for (const auto& e : model.params().entries()) names.push_back(e.name);
  const std::vector<std::string> expected{
      "patch_embed.proj.weight", "patch_embed.proj.bias", "cls_token", "pos_embed",
      "blocks.0.norm1.weight", "blocks.0.norm1.bias", "blocks.0.attn.in_proj_weight", "blocks.0.attn.in_proj_bias",
      "blocks.0.attn.out_proj.weight", "blocks.0.attn.out_proj.bias", "blocks.0.norm2.weight", "blocks.0.norm2.bias",
      "blocks.0.mlp.fc1.weight", "blocks.0.mlp.fc1.bias", "blocks.0.mlp.fc2.weight", "blocks.0.mlp.fc2.bias",
      "blocks.1.norm1.weight", "blocks.1.norm1.bias", "blocks.1.attn.in_proj_weight", "blocks.1.attn.in_proj_bias",
      "blocks.1.attn.out_proj.weight", "blocks.1.attn.out_proj.bias", "blocks.1.norm2.weight", "blocks.1.norm2.bias",
      "blocks.1.moe.router.phi", "blocks.1.moe.router.scale", "blocks.1.moe.experts.w1", "blocks.1.moe.experts.b1",
      "blocks.1.moe.experts.w2", "blocks.1.moe.experts.b2", "norm.weight", "norm.bias", "head.weight", "head.bias"};
  CHECK(names == expected);
  const auto& params = model.params();
  CHECK(params.entry(*params.find("patch_embed.proj.weight")).shape == std::vector<std::size_t>{8, 1, 4, 4});
  CHECK(params.entry(*params.find("pos_embed")).shape == std::vector<std::size_t>{1, 5, 8});
  CHECK(params.entry(*params.find("blocks.0.mlp.fc1.weight")).shape == std::vector<std::size_t>{12, 8});
  CHECK(params.entry(*params.find("blocks.1.moe.router.phi")).shape == std::vector<std::size_t>{8, 6});
  CHECK(params.entry(*params.find("blocks.1.moe.experts.w2")).shape == std::vector<std::size_t>{3, 5, 8});
  CHECK(params.entry(*params.find("head.weight")).shape == std::vector<std::size_t>{4, 8});
  CHECK(model.expert_params_per_layer() == 3u * (8 * 5 + 5 + 5 * 8 + 8));
  CHECK(model.expert_param_count() == model.expert_params_per_layer());
  CHECK(model.moe_layer_count() == 1);

  VitConfig mean = c;
  mean.pool = Pool::mean;
  mean.experts = 0;
  VitModel<float> dense(mean, 2);
  CHECK_FALSE(dense.params().find("cls_token").has_value());
  CHECK(dense.params().find("blocks.1.mlp.fc2.bias").has_value());
  CHECK(dense.expert_param_count() == 0);
  CHECK(dense.params().entry(*dense.params().find("pos_embed")).shape == std::vector<std::size_t>{1, 4, 8});

  CHECK(default_moe_layers(4) == std::vector<int>{2, 3});
  CHECK(default_moe_layers(5) == std::vector<int>{2, 3, 4});
  VitConfig defaults;
  defaults.experts = 16;
  CHECK(defaults.moe_blocks() == std::vector<int>{2, 3});
  CHECK(defaults.expert_width() == 256 / 16);
  CHECK(defaults.tokens() == 50);
  VitConfig bad = c;
  bad.moe_layers = {2};
  CHECK_THROWS_AS(validate(bad), std::invalid_argument);
  bad.moe_layers = {1, 1};
  CHECK_THROWS_AS(validate(bad), std::invalid_argument);
  bad = c;
  bad.heads = 3;
  CHECK_THROWS_AS(VitModel<float>(bad, 2), std::invalid_argument);
  bad = c;
  bad.patch = 3;
  CHECK_THROWS_AS(validate(bad), std::invalid_argument);
}

TEST_CASE("vit model: a batch's examples do not interact, and B above max_batch is refused") {
  const VitConfig c = tiny_config(Pool::mean, true);
  VitModel<double> model(c, 3);
  init_perturbed(model, 34);
  const auto images = random_images<double>(c, 3, 35);
  const std::vector<double> all(model.forward(images.data(), 3), model.forward(images.data(), 3) + 3 * c.classes);
  const double* one = model.forward(images.data() + 2 * 64, 1);
  for (int k = 0; k < c.classes; ++k) CHECK(one[k] == doctest::Approx(all[2 * c.classes + k]).epsilon(1e-12));
  CHECK_THROWS_AS(model.forward(images.data(), 4), std::invalid_argument);
}

TEST_CASE("vit model: two engine threads give the logits and gradients of one") {
  const VitConfig c = tiny_config(Pool::cls, true);
  const int B = 128;  // 640 token rows: the row-wise loops split across threads
  VitModel<double> model(c, B);
  init_perturbed(model, 43);
  const auto images = random_images<double>(c, B, 44);
  Rng rng(45, Stream::data);
  const auto r = random_vector(static_cast<std::size_t>(B) * c.classes, rng);
  std::vector<double> logits[2], grads[2];
  for (int threads : {1, 2}) {
    kernels::set_blas_threads(threads);
    const double* out = model.forward(images.data(), B);
    logits[threads - 1].assign(out, out + B * c.classes);
    model.params().zero_grad();
    model.backward(r.data(), B);
    grads[threads - 1].assign(model.params().grads(), model.params().grads() + model.params().size());
  }
  kernels::set_blas_threads(1);
  for (int k = 0; k < 2; ++k) {
    const auto& a = k == 0 ? logits : grads;
    double diff = 0, norm = 0;
    for (std::size_t i = 0; i < a[0].size(); ++i) {
      diff += (a[0][i] - a[1][i]) * (a[0][i] - a[1][i]);
      norm += a[0][i] * a[0][i];
    }
    CHECK(std::sqrt(diff / norm) < 1e-12);
  }
}

TEST_CASE("vit model: forward_selected keeping every expert equals forward") {
  for (auto pool : {Pool::cls, Pool::mean})
    for (bool residual : {true, false}) {
      CAPTURE(to_string(pool));
      CAPTURE(residual);
      VitConfig c = tiny_config(pool, residual);
      c.depth = 3;
      c.moe_layers = {0, 2};
      const int B = 5;
      VitModel<float> model(c, B);
      init_perturbed(model, 36);
      const auto images = random_images<float>(c, B, 37);
      const std::vector<float> expected(model.forward(images.data(), B),
                                        model.forward(images.data(), B) + B * c.classes);
      std::vector<int> layers_seen;
      WorkCount work;
      const float* got = model.forward_selected(
          images.data(), B,
          [&](SelectionWorkspace& ws, int layer, int batch) {
            CHECK(batch == B);
            layers_seen.push_back(layer);
            std::fill(ws.keep.begin(), ws.keep.begin() + batch * c.experts, std::uint8_t{1});
          },
          false, &work);
      CHECK(relative_difference(got, expected.data(), expected.size()) < 1e-5);
      CHECK(layers_seen == std::vector<int>{0, 1});
      const auto s = model.moe_shape();
      const double expert_flops = 2.0 * B * s.experts * s.slots * (2.0 * s.dim * s.hidden);
      CHECK(work.expert == doctest::Approx(2 * expert_flops));  // two MoE layers, every expert
      CHECK(work.total > work.expert);
    }
  VitModel<double> in_double(tiny_config(Pool::cls, true), 1);
  CHECK_THROWS_AS(in_double.forward_selected(nullptr, 1, {}, false, nullptr), std::logic_error);
}

TEST_CASE("vit model: forward_selected with expert subsets equals a reference assembled by hand") {
  // One MoE layer, the last block: the experts' slot outputs do not depend on the selection, so the
  // masked output is sum over kept experts e and their slots s of C[b, i, s] Ys[s] (C renormalised over
  // the kept slots in the renormalised variant), added to the block's residual, then the final
  // LayerNorm, pooling and head.
  for (bool renormalize : {false, true})
    for (bool residual : {true, false}) {
      CAPTURE(renormalize);
      CAPTURE(residual);
      const VitConfig c = tiny_config(Pool::cls, residual);
      const int B = 4, L = c.tokens(), D = c.dim, n = c.experts, p = c.slots, S = n * p;
      VitModel<float> model(c, B);
      init_perturbed(model, 38);
      const auto images = random_images<float>(c, B, 39);
      // keep [B, n]: a different subset per example, one example keeps nothing but expert 2
      const std::vector<std::uint8_t> keep{1, 0, 1, 0, 1, 1, 0, 0, 1, 0, 1, 0};

      model.forward(images.data(), B);
      const auto& a = model.block_activations(1);
      const auto& act = *a.moe;
      std::vector<float> x_out(static_cast<std::size_t>(B) * L * D);
      for (int b = 0; b < B; ++b)
        for (int i = 0; i < L; ++i) {
          const float* C = act.combine.data() + (static_cast<long>(b) * L + i) * S;
          float kept_mass = 0;
          for (int s = 0; s < S; ++s) kept_mass += keep[b * n + s / p] ? C[s] : 0.0f;
          float* y = x_out.data() + (static_cast<long>(b) * L + i) * D;
          for (int k = 0; k < D; ++k) y[k] = residual ? a.mid[(static_cast<long>(b) * L + i) * D + k] : 0.0f;
          for (int s = 0; s < S; ++s) {
            if (!keep[b * n + s / p]) continue;
            const float weight = renormalize ? C[s] / kept_mass : C[s];
            const float* ys = act.slot_out.data() + ((static_cast<long>(s / p) * B + b) * p + s % p) * D;  // [n, B, p, D]
            for (int k = 0; k < D; ++k) y[k] += weight * ys[k];
          }
        }
      auto& params = model.params();
      auto value = [&](const char* name) { return params.value(*params.find(name)); };
      std::vector<float> ln(x_out.size()), mean(static_cast<std::size_t>(B) * L), rstd(mean.size()), pooled(B * D),
          expected(B * c.classes);
      layernorm_forward(ln.data(), mean.data(), rstd.data(), x_out.data(), value("norm.weight"), value("norm.bias"),
                        B * L, D);
      pool_forward(pooled.data(), ln.data(), B, L, D, c.pool);
      linear_forward(expected.data(), pooled.data(), value("head.weight"), value("head.bias"), B, D, c.classes);

      const float* got = model.forward_selected(
          images.data(), B,
          [&](SelectionWorkspace& ws, int layer, int batch) {
            CHECK(layer == 0);
            std::copy(keep.begin(), keep.begin() + batch * n, ws.keep.begin());
          },
          renormalize, nullptr);
      CHECK(relative_difference(got, expected.data(), expected.size()) < 1e-5);
      // and the subset matters: the all-expert logits differ
      const std::vector<float> selected(got, got + expected.size());
      const float* full = model.forward(images.data(), B);
      CHECK(relative_difference(full, selected.data(), selected.size()) > 1e-3);
    }
}
