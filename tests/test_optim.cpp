// Optimisers against their update rules computed by hand (PyTorch's formulas).
#include <doctest/doctest.h>

#include <cmath>
#include <vector>

#include "softmoe/optim.hpp"

using namespace softmoe;

TEST_CASE("adam: two steps by hand") {
  OptimizerConfig config;
  config.lr = 0.1;
  Optimizer<double> adam(config, 1);
  double p = 1.0;
  const double g1 = 0.5, g2 = -0.25;
  adam.step(&p, &g1);
  // step 1: m = 0.05, v = 0.00025; m_hat = 0.5, v_hat = 0.25 -> p = 1 - 0.1 * 0.5 / (0.5 + 1e-8)
  CHECK(p == doctest::Approx(1.0 - 0.1 * 0.5 / (0.5 + 1e-8)).epsilon(1e-12));
  const double p1 = p;
  adam.step(&p, &g2);
  const double m = 0.9 * 0.05 + 0.1 * g2, v = 0.999 * 0.00025 + 0.001 * g2 * g2;
  const double expected = p1 - 0.1 / (1 - 0.81) * m / (std::sqrt(v) / std::sqrt(1 - 0.999 * 0.999) + 1e-8);
  CHECK(p == doctest::Approx(expected).epsilon(1e-12));
  CHECK(adam.steps_taken() == 2);
}

TEST_CASE("adamw decays decoupled from the gradient; adam adds L2 to it") {
  OptimizerConfig config;
  config.lr = 0.1;
  config.weight_decay = 0.5;
  config.kind = OptimizerKind::adamw;
  Optimizer<double> adamw(config, 1);
  double p = 2.0;
  const double g = 0.0;
  adamw.step(&p, &g);
  CHECK(p == doctest::Approx(2.0 * (1 - 0.05)));  // zero gradient: only the decay moves p

  config.kind = OptimizerKind::adam;
  Optimizer<double> adam(config, 1);
  double q = 2.0;
  adam.step(&q, &g);  // gradient becomes 0.5 * 2 = 1: a full normalised step of lr
  CHECK(q == doctest::Approx(2.0 - 0.1).epsilon(1e-6));
}

TEST_CASE("sgd with momentum") {
  OptimizerConfig config;
  config.kind = OptimizerKind::sgd;
  config.lr = 0.1;
  config.momentum = 0.9;
  Optimizer<double> sgd(config, 2);
  std::vector<double> p{1.0, -1.0};
  const std::vector<double> g{1.0, 2.0};
  sgd.step(p.data(), g.data());
  CHECK(p[0] == doctest::Approx(0.9));
  CHECK(p[1] == doctest::Approx(-1.2));
  sgd.step(p.data(), g.data());  // buffer = 0.9 * g + g
  CHECK(p[0] == doctest::Approx(0.9 - 0.19));
  CHECK(p[1] == doctest::Approx(-1.2 - 0.38));
  CHECK_THROWS(parse_optimizer("rmsprop"));
}
