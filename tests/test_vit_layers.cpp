// The Vision Transformer's layers: a hand-computed forward case and central finite differences of the
// input and every parameter gradient for LayerNorm, multi-head attention, patch embedding, pooling,
// and a whole pre-LN transformer block. Gradient buffers start at 0.5, not 0, so that every check also
// shows that backward accumulates rather than overwrites.
#include <doctest/doctest.h>

#include <cmath>
#include <cstdint>
#include <vector>

#include "gradcheck.hpp"
#include "softmoe/data/image_dataset.hpp"
#include "softmoe/layers/attention.hpp"
#include "softmoe/layers/embedding.hpp"
#include "softmoe/layers/layernorm.hpp"
#include "softmoe/layers/pooling.hpp"
#include "vit_block.hpp"

using namespace softmoe;
using softmoe::testing::gradient_error;
using softmoe::testing::random_vector;
using softmoe::testing::weighted_sum;

namespace {

constexpr double kTolerance = 1e-6;
constexpr double kStart = 0.5;  // every gradient buffer's value before backward

std::vector<double> start_grad(std::size_t n) { return std::vector<double>(n, kStart); }

// The gradient backward accumulated onto kStart.
std::vector<double> accumulated(std::vector<double> g) {
  for (auto& v : g) v -= kStart;
  return g;
}

template <class Loss>
void check_params(ParamBuffer<double>& params, Loss loss) {
  for (const auto& e : params.entries()) {
    CAPTURE(e.name);
    std::vector<double> g(params.grads() + e.offset, params.grads() + e.offset + e.size);
    const auto analytic = accumulated(g);
    CHECK(gradient_error(params.values() + e.offset, analytic.data(), e.size, loss) < kTolerance);
  }
}

void fill_random(ParamBuffer<double>& params, Rng& rng, double scale) {
  for (std::size_t i = 0; i < params.size(); ++i) params.values()[i] = scale * rng.normal();
}

double sigmoid(double a) { return 1 / (1 + std::exp(-a)); }

}  // namespace

TEST_CASE("layernorm: forward matches a hand computation") {
  // x [2, 4]: a spread row and a constant row (variance 0: only eps keeps rstd finite)
  const std::vector<double> x{1, 2, 3, 4, 3, 3, 3, 3}, gamma{1, 2, 1, 1}, beta{0, 0, 1, 0};
  std::vector<double> y(8), mean(2), rstd(2);
  layernorm_forward(y.data(), mean.data(), rstd.data(), x.data(), gamma.data(), beta.data(), 2, 4);
  const double r = 1 / std::sqrt(1.25 + 1e-5);
  CHECK(mean[0] == doctest::Approx(2.5).epsilon(1e-14));
  CHECK(rstd[0] == doctest::Approx(r).epsilon(1e-14));
  CHECK(y[0] == doctest::Approx(-1.5 * r).epsilon(1e-14));
  CHECK(y[1] == doctest::Approx(-1.0 * r).epsilon(1e-14));
  CHECK(y[2] == doctest::Approx(0.5 * r + 1).epsilon(1e-14));
  CHECK(y[3] == doctest::Approx(1.5 * r).epsilon(1e-14));
  CHECK(rstd[1] == doctest::Approx(1 / std::sqrt(1e-5)).epsilon(1e-12));
  for (int k = 0; k < 4; ++k) CHECK(y[4 + k] == beta[k]);
}

TEST_CASE("layernorm: gradients of input, weight and bias") {
  Rng rng(21, Stream::init);
  const int R = 6, D = 5;
  auto x = random_vector(R * D, rng, 2.0);
  for (auto& v : x) v += 3;  // rows with a non-zero mean
  auto gamma = random_vector(D, rng), beta = random_vector(D, rng);
  for (auto& g : gamma) g += 1;
  const auto r = random_vector(R * D, rng);
  std::vector<double> y(R * D), mean(R), rstd(R);
  auto loss = [&] {
    layernorm_forward(y.data(), mean.data(), rstd.data(), x.data(), gamma.data(), beta.data(), R, D);
    return weighted_sum(y.data(), r);
  };
  loss();
  auto dx = start_grad(x.size()), dgamma = start_grad(D), dbeta = start_grad(D);
  layernorm_backward(dx.data(), dgamma.data(), dbeta.data(), r.data(), x.data(), mean.data(), rstd.data(),
                     gamma.data(), R, D);
  CHECK(gradient_error(x.data(), accumulated(dx).data(), x.size(), loss) < kTolerance);
  CHECK(gradient_error(gamma.data(), accumulated(dgamma).data(), D, loss) < kTolerance);
  CHECK(gradient_error(beta.data(), accumulated(dbeta).data(), D, loss) < kTolerance);

  // dx may be null: the parameter gradients are unchanged.
  auto dgamma2 = start_grad(D), dbeta2 = start_grad(D);
  layernorm_backward(static_cast<double*>(nullptr), dgamma2.data(), dbeta2.data(), r.data(), x.data(),
                     mean.data(), rstd.data(), gamma.data(), R, D);
  CHECK(dgamma2 == dgamma);
  CHECK(dbeta2 == dbeta);
}

TEST_CASE("attention: forward matches a hand computation") {
  // D = 2, L = 2, Wq = Wk = Wv = Wout = I, in-projection bias 0, out bias [10, 20]; x = I.
  const std::vector<double> x{1, 0, 0, 1}, in_w{1, 0, 0, 1, 1, 0, 0, 1, 1, 0, 0, 1}, in_b(6, 0.0),
      out_w{1, 0, 0, 1}, out_b{10, 20};
  const AttentionTensors<double> w{const_cast<double*>(in_w.data()), const_cast<double*>(in_b.data()),
                                   const_cast<double*>(out_w.data()), const_cast<double*>(out_b.data())};
  std::vector<double> y(4);
  SUBCASE("one head of width 2: scores x x^T / sqrt(2)") {
    const AttentionShape s{2, 2, 1};
    AttentionActivations<double> act(s, 1);
    attention_forward(y.data(), act, x.data(), w, s, 1);
    const double p = sigmoid(1 / std::sqrt(2.0));  // softmax([a, 0])[0] = sigmoid(a)
    CHECK(act.probs[0] == doctest::Approx(p).epsilon(1e-14));
    CHECK(act.probs[0] + act.probs[1] == doctest::Approx(1).epsilon(1e-14));
    CHECK(y[0] == doctest::Approx(10 + p).epsilon(1e-14));
    CHECK(y[1] == doctest::Approx(20 + 1 - p).epsilon(1e-14));
    CHECK(y[2] == doctest::Approx(10 + 1 - p).epsilon(1e-14));
    CHECK(y[3] == doctest::Approx(20 + p).epsilon(1e-14));
  }
  SUBCASE("two heads of width 1: each head sees only its own column") {
    // head 0 (column 0): token 0 attends [sigmoid(1), 1 - sigmoid(1)], token 1 (q = 0) uniformly;
    // head 1 (column 1): the mirror image.
    const AttentionShape s{2, 2, 2};
    AttentionActivations<double> act(s, 1);
    attention_forward(y.data(), act, x.data(), w, s, 1);
    const double p = sigmoid(1);
    CHECK(y[0] == doctest::Approx(10 + p).epsilon(1e-14));
    CHECK(y[1] == doctest::Approx(20 + 0.5).epsilon(1e-14));
    CHECK(y[2] == doctest::Approx(10 + 0.5).epsilon(1e-14));
    CHECK(y[3] == doctest::Approx(20 + p).epsilon(1e-14));
  }
  CHECK_THROWS(validate(AttentionShape{2, 6, 4}));
}

TEST_CASE("attention: gradients of input and every parameter") {
  for (int heads : {1, 2, 3})
    for (bool bias : {true, false}) {
      CAPTURE(heads);
      CAPTURE(bias);
      const int B = 2;
      const AttentionShape s{4, 6, heads};
      ParamBuffer<double> params;
      const auto ids = attention_register(params, s);
      params.allocate();
      Rng rng(22, Stream::init);
      fill_random(params, rng, 0.5);
      auto w = ids.values(params), g = ids.grads(params);
      if (!bias) w.in_proj_bias = w.out_proj_bias = g.in_proj_bias = g.out_proj_bias = nullptr;
      AttentionActivations<double> act(s, B);
      auto x = random_vector(static_cast<std::size_t>(B) * 4 * 6, rng);
      const auto r = random_vector(x.size(), rng);
      std::vector<double> y(x.size());
      auto loss = [&] {
        attention_forward(y.data(), act, x.data(), w, s, B);
        return weighted_sum(y.data(), r);
      };
      loss();
      auto dx = start_grad(x.size());
      std::fill(params.grads(), params.grads() + params.size(), kStart);
      attention_backward(dx.data(), g, r.data(), act, x.data(), w, s, B);
      CHECK(gradient_error(x.data(), accumulated(dx).data(), x.size(), loss) < kTolerance);
      if (bias) {
        check_params(params, loss);
      } else {
        for (auto id : {ids.in_proj_weight, ids.out_proj_weight}) {
          const auto& e = params.entry(id);
          CAPTURE(e.name);
          std::vector<double> grad(params.grads() + e.offset, params.grads() + e.offset + e.size);
          CHECK(gradient_error(params.values() + e.offset, accumulated(grad).data(), e.size, loss) < kTolerance);
        }
        for (auto id : {ids.in_proj_bias, ids.out_proj_bias})
          for (std::size_t i = 0; i < params.entry(id).size; ++i) CHECK(params.grad(id)[i] == kStart);
      }
    }
}

TEST_CASE("attention: the examples of a batch do not interact") {
  const AttentionShape s{5, 4, 2};
  ParamBuffer<double> params;
  const auto ids = attention_register(params, s);
  params.allocate();
  Rng rng(23, Stream::init);
  attention_init(ids.values(params), s, rng);
  AttentionActivations<double> act(s, 3);
  const auto x = random_vector(3 * 5 * 4, rng);
  std::vector<double> y(x.size()), y1(5 * 4);
  attention_forward(y.data(), act, x.data(), ids.values(params), s, 3);
  attention_forward(y1.data(), act, x.data() + 5 * 4, ids.values(params), s, 1);
  for (int i = 0; i < 5 * 4; ++i) CHECK(y1[i] == doctest::Approx(y[5 * 4 + i]).epsilon(1e-13));
}

TEST_CASE("patch embedding: forward matches a hand computation") {
  // One 2x4 image, patch 2: two patches, pixels (1, 2, 5, 6) and (3, 4, 7, 8); D = 1.
  const std::vector<double> image{1, 2, 3, 4, 5, 6, 7, 8}, weight{1, 10, 100, 1000}, bias{0.5};
  std::vector<double> pos{1, 2, 3}, cls{7}, y(3);
  for (bool class_token : {true, false}) {
    CAPTURE(class_token);
    const PatchEmbedShape s{2, 4, 2, 1, class_token};
    REQUIRE(s.tokens() == (class_token ? 3 : 2));
    PatchEmbedActivations<double> act(s, 1);
    const PatchEmbedTensors<double> w{const_cast<double*>(weight.data()), const_cast<double*>(bias.data()),
                                      pos.data(), class_token ? cls.data() : nullptr};
    patch_embed_forward(y.data(), act, image.data(), w, s, 1);
    if (class_token) {
      CHECK(y[0] == 8);  // cls + pos[0]
      CHECK(y[1] == 6521 + 0.5 + 2);
      CHECK(y[2] == 8743 + 0.5 + 3);
    } else {
      CHECK(y[0] == 6521 + 0.5 + 1);
      CHECK(y[1] == 8743 + 0.5 + 2);
    }
  }
  CHECK_THROWS(validate(PatchEmbedShape{28, 28, 5, 8, false}));
}

TEST_CASE("patch embedding: patchify cuts images as patch_tokens does, and its backward is its adjoint") {
  ImageDataset data;
  data.count = 2;
  data.rows = 4;
  data.cols = 6;
  for (int i = 0; i < 2 * 4 * 6; ++i) data.images.push_back(static_cast<std::uint8_t>(5 * i));
  data.labels = {0, 1};
  std::vector<float> tokens(2 * 4 * 6), images(2 * 4 * 6), patches(2 * 4 * 6);
  patch_tokens(tokens.data(), data, 0, 2, 2, 0.0f, 1.0f);
  for (std::size_t i = 0; i < images.size(); ++i) images[i] = static_cast<float>(data.images[i]) / 255.0f;
  patchify(patches.data(), images.data(), 2, 4, 6, 2);
  CHECK(patches == tokens);

  Rng rng(24, Stream::init);
  const auto a = random_vector(2 * 4 * 6, rng), b = random_vector(2 * 4 * 6, rng);
  std::vector<double> pa(a.size()), bt(b.size(), 0.0);
  patchify(pa.data(), a.data(), 2, 4, 6, 2);
  patchify_backward(bt.data(), b.data(), 2, 4, 6, 2);
  CHECK(weighted_sum(pa.data(), b) == doctest::Approx(weighted_sum(a.data(), bt)).epsilon(1e-14));
}

TEST_CASE("patch embedding: gradients of the images and every parameter") {
  for (bool class_token : {true, false}) {
    CAPTURE(class_token);
    const int B = 2;
    const PatchEmbedShape s{4, 6, 2, 3, class_token};
    ParamBuffer<double> params;
    const auto ids = patch_embed_register(params, s);
    params.allocate();
    Rng rng(25, Stream::init);
    fill_random(params, rng, 0.5);
    PatchEmbedActivations<double> act(s, B);
    auto images = random_vector(static_cast<std::size_t>(B) * 4 * 6, rng);
    const auto r = random_vector(static_cast<std::size_t>(B) * s.tokens() * s.dim, rng);
    std::vector<double> y(r.size());
    auto loss = [&] {
      patch_embed_forward(y.data(), act, images.data(), ids.values(params, s), s, B);
      return weighted_sum(y.data(), r);
    };
    loss();
    auto dimages = start_grad(images.size());
    std::fill(params.grads(), params.grads() + params.size(), kStart);
    patch_embed_backward(dimages.data(), ids.grads(params, s), r.data(), act, ids.values(params, s), s, B);
    CHECK(gradient_error(images.data(), accumulated(dimages).data(), images.size(), loss) < kTolerance);
    check_params(params, loss);
  }
}

TEST_CASE("pooling: forward values and gradients") {
  // x [1, 3, 2]
  const std::vector<double> x3{1, 2, 3, 4, 5, 9};
  double y[2];
  pool_forward(y, x3.data(), 1, 3, 2, Pool::mean);
  CHECK(y[0] == doctest::Approx(3));
  CHECK(y[1] == doctest::Approx(5));
  pool_forward(y, x3.data(), 1, 3, 2, Pool::cls);
  CHECK(y[0] == 1);
  CHECK(y[1] == 2);
  for (auto pool : {Pool::mean, Pool::cls}) {
    CAPTURE(to_string(pool));
    CHECK(parse_pool(to_string(pool)) == pool);
    const int B = 3, L = 4, D = 5;
    Rng rng(26, Stream::init);
    auto x = random_vector(B * L * D, rng);
    const auto r = random_vector(B * D, rng);
    std::vector<double> out(B * D);
    auto loss = [&] {
      pool_forward(out.data(), x.data(), B, L, D, pool);
      return weighted_sum(out.data(), r);
    };
    auto dx = start_grad(x.size());
    pool_backward(dx.data(), r.data(), B, L, D, pool);
    CHECK(gradient_error(x.data(), accumulated(dx).data(), x.size(), loss) < kTolerance);
  }
  CHECK_THROWS(parse_pool("max"));
}

TEST_CASE("vit block: gradients of input and every parameter of a pre-LN transformer block") {
  softmoe::testing::TestBlock<double> block(2, 3, 4, 2);
  Rng rng(27, Stream::init);
  fill_random(block.params, rng, 0.5);
  auto x = random_vector(2 * 3 * 4, rng);
  const auto r = random_vector(x.size(), rng);
  auto loss = [&] { return weighted_sum(block.forward(x.data()), r); };
  loss();
  auto dx = start_grad(x.size());
  std::fill(block.params.grads(), block.params.grads() + block.params.size(), kStart);
  block.backward(dx.data(), r.data(), x.data());
  CHECK(gradient_error(x.data(), accumulated(dx).data(), x.size(), loss) < kTolerance);
  check_params(block.params, loss);
}
