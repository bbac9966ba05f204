// The RL agent's layers: the NHWC convolution, the Huber TD loss and the Q network with each head,
// against central finite differences (double) and PyTorch (tests/reference/make_rl_fixtures.py).
#include <doctest/doctest.h>

#include <cstdint>
#include <vector>

#include "fixture_checker.hpp"
#include "gradcheck.hpp"
#include "softmoe/kernels/gemm.hpp"
#include "softmoe/layers/conv2d.hpp"
#include "softmoe/layers/td_loss.hpp"
#include "softmoe/models/q_network.hpp"
#include "softmoe/rng.hpp"

using namespace softmoe;
using namespace softmoe::test;
using softmoe::testing::gradient_error;
using softmoe::testing::random_vector;
using softmoe::testing::weighted_sum;

TEST_CASE("conv2d: a hand computation") {
  // one 3x4 single-channel image, a 2x2 kernel, two filters
  const Conv2dShape s{3, 4, 1, 2, 2};
  const std::vector<double> x{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12};
  const std::vector<double> w{1, 0, 0, 1, 0, 0, 1, -1};  // [K, K, C, F]: filter 0 = x[0,0] + x[1,1], 1 = x[0,1] - x[1,1]
  const std::vector<double> bias{0.5, 0};
  std::vector<double> y(2 * 3 * 2), cols(6 * 4);
  conv2d_forward(y.data(), cols.data(), x.data(), w.data(), bias.data(), s, 1);
  const std::vector<double> expected{1 + 6 + 0.5, 2 - 6, 2 + 7 + 0.5, 3 - 7, 3 + 8 + 0.5, 4 - 8,
                                     5 + 10 + 0.5, 6 - 10, 6 + 11 + 0.5, 7 - 11, 7 + 12 + 0.5, 8 - 12};
  CHECK(y == expected);
}

TEST_CASE("conv2d: finite differences of input, weight and bias") {
  const Conv2dShape s{5, 6, 3, 3, 4};
  const int B = 2;
  Rng rng(3, Stream::init);
  std::vector<double> x = random_vector(static_cast<std::size_t>(B * 5 * 6 * 3), rng);
  std::vector<double> w = random_vector(static_cast<std::size_t>(s.patch() * 4), rng);
  std::vector<double> bias = random_vector(4, rng);
  const std::vector<double> r = random_vector(static_cast<std::size_t>(B * s.positions() * 4), rng);
  std::vector<double> y(r.size()), cols(static_cast<std::size_t>(B * s.positions() * s.patch())), dcols(cols.size());
  auto loss = [&] {
    conv2d_forward(y.data(), cols.data(), x.data(), w.data(), bias.data(), s, B);
    return weighted_sum(y.data(), r);
  };
  loss();
  std::vector<double> dx(x.size()), dw(w.size()), db(bias.size());
  conv2d_backward(dx.data(), dcols.data(), dw.data(), db.data(), r.data(), cols.data(), w.data(), s, B);
  CHECK(gradient_error(x.data(), dx.data(), x.size(), loss) < 1e-7);
  CHECK(gradient_error(w.data(), dw.data(), w.size(), loss) < 1e-7);
  CHECK(gradient_error(bias.data(), db.data(), bias.size(), loss) < 1e-7);
}

template <class T>
void check_conv_fixture(double tolerance) {
  const SafetensorsFile f = fixture("rl_conv2d");
  Checker check{f, tolerance, {}};
  const Conv2dShape s{meta_int(f, "height"), meta_int(f, "width"), meta_int(f, "channels"), meta_int(f, "kernel"),
                      meta_int(f, "filters")};
  const int B = meta_int(f, "batch");
  const std::vector<std::size_t> in_shape{sz(B), sz(s.height), sz(s.width), sz(s.channels)};
  const std::vector<std::size_t> out_shape{sz(B), sz(s.out_height()), sz(s.out_width()), sz(s.filters)};
  const std::vector<T> x = check.input<T>("x", in_shape), dy = check.input<T>("dy", out_shape);
  const std::vector<T> w = check.input<T>("conv.weight", {sz(s.kernel), sz(s.kernel), sz(s.channels), sz(s.filters)});
  const std::vector<T> bias = check.input<T>("conv.bias", {sz(s.filters)});
  std::vector<T> y(dy.size()), cols(static_cast<std::size_t>(B * s.positions() * s.patch())), dcols(cols.size());
  std::vector<T> dx(x.size()), dw(w.size()), db(bias.size());
  conv2d_forward(y.data(), cols.data(), x.data(), w.data(), bias.data(), s, B);
  conv2d_backward(dx.data(), dcols.data(), dw.data(), db.data(), dy.data(), cols.data(), w.data(), s, B);
  check.expect("y", y.data(), out_shape);
  check.expect("dx", dx.data(), in_shape);
  check.expect("grad.conv.weight", dw.data(), {sz(s.kernel), sz(s.kernel), sz(s.channels), sz(s.filters)});
  check.expect("grad.conv.bias", db.data(), {sz(s.filters)});
  check.all_used();
}

TEST_CASE("conv2d reference: matches F.conv2d channels last") {
  check_conv_fixture<double>(kDoubleTolerance);
  check_conv_fixture<float>(kFloatTolerance);
}

TEST_CASE("td_huber: both regimes and finite differences") {
  const std::vector<std::int32_t> actions{2, 0, 1};
  std::vector<double> q{0, 0, 0.5, 3, 0, 0, 0, -1, 0};  // chosen: 0.5, 3, -1
  const std::vector<double> targets{0, 0.5, 1};          // errors 0.5, 2.5, -2
  CHECK(td_huber_forward(q.data(), actions.data(), targets.data(), 3, 3) == doctest::Approx((0.125 + 2 + 1.5) / 3));
  std::vector<double> dq(q.size());
  td_huber_backward(dq.data(), q.data(), actions.data(), targets.data(), 3, 3);
  CHECK(dq == std::vector<double>{0, 0, 0.5 / 3, 1.0 / 3, 0, 0, 0, -1.0 / 3, 0});
  auto loss = [&] { return td_huber_forward(q.data(), actions.data(), targets.data(), 3, 3); };
  CHECK(gradient_error(q.data(), dq.data(), q.size(), loss) < 1e-8);
}

namespace {

QNetworkConfig small_config(QHead head, Tokenize tokenize) {
  QNetworkConfig c;
  c.channels = 4, c.filters = 4, c.head = head, c.hidden = 8, c.width_mult = 2, c.experts = 3, c.expert_hidden = 5;
  c.tokenize = tokenize;
  return c;
}

const QNetworkConfig kCases[] = {small_config(QHead::dense, Tokenize::per_conv),
                                 small_config(QHead::softmoe, Tokenize::per_conv),
                                 small_config(QHead::softmoe, Tokenize::per_feat)};

}  // namespace

TEST_CASE("Q network: finite differences of every parameter through the TD loss, each head") {
  kernels::set_blas_threads(1);
  for (const QNetworkConfig& c : kCases) {
    CAPTURE(to_string(c.head));
    CAPTURE(to_string(c.tokenize));
    const int B = 4;
    QNetwork<double> net(c, B);
    Rng rng(5, Stream::init);
    net.init(rng);
    std::vector<double> x(static_cast<std::size_t>(B) * net.input_size());
    for (double& v : x) v = rng.uniform() < 0.3 ? 1 : 0;
    const std::vector<std::int32_t> actions{0, 3, 5, 3};
    std::vector<double> targets(B);
    for (double& t : targets) t = 2 * rng.normal();
    auto loss = [&] { return td_huber_forward(net.forward(x.data(), B), actions.data(), targets.data(), B, 6); };
    loss();
    std::vector<double> dq(static_cast<std::size_t>(B) * 6);
    td_huber_backward(dq.data(), net.forward(x.data(), B), actions.data(), targets.data(), B, 6);
    net.params().zero_grad();
    net.backward(dq.data(), B);
    const std::vector<double> analytic(net.params().grads(), net.params().grads() + net.params().size());
    for (const ParamEntry& e : net.params().entries()) {
      CAPTURE(e.name);
      CHECK(gradient_error(net.params().values() + e.offset, analytic.data() + e.offset, e.size, loss) < 1e-6);
    }
  }
}

template <class T>
void check_qnet_fixture(const std::string& name, double tolerance) {
  const SafetensorsFile f = fixture(name);
  Checker check{f, tolerance, {}};
  QNetworkConfig c;
  c.channels = meta_int(f, "channels"), c.filters = meta_int(f, "filters");
  c.head = meta(f, "head") == std::string("dense") ? QHead::dense : QHead::softmoe;
  c.tokenize = meta(f, "tokenize") == std::string("per-conv") ? Tokenize::per_conv : Tokenize::per_feat;
  c.hidden = meta_int(f, "hidden"), c.width_mult = meta_int(f, "width_mult");
  c.experts = meta_int(f, "experts"), c.expert_hidden = meta_int(f, "expert_hidden");
  const int B = meta_int(f, "batch");
  QNetwork<T> net(c, B);
  check.load_params(net.params());
  const std::vector<T> x = check.input<T>("x", {sz(B), 10, 10, sz(c.channels)});
  const std::vector<std::int32_t> actions = check.input<std::int32_t>("actions", {sz(B)});
  const std::vector<T> targets = check.input<T>("targets", {sz(B)});
  const T* q = net.forward(x.data(), B);
  check.expect("q", q, {sz(B), 6});
  const T loss = td_huber_forward(q, actions.data(), targets.data(), B, 6);
  check.expect("loss", &loss, {1});
  std::vector<T> dq(static_cast<std::size_t>(B) * 6);
  td_huber_backward(dq.data(), q, actions.data(), targets.data(), B, 6);
  net.backward(dq.data(), B);
  check.expect_grads(net.params());
  check.all_used();
}

TEST_CASE("Q network reference: matches PyTorch for each head and tokenisation") {
  kernels::set_blas_threads(1);
  for (const char* name : {"rl_qnet_dense", "rl_qnet_softmoe_per_conv", "rl_qnet_softmoe_per_feat"}) {
    CAPTURE(name);
    check_qnet_fixture<double>(name, kDoubleTolerance);
    check_qnet_fixture<float>(name, kFloatTolerance);
  }
}
