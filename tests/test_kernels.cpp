// The engine's small kernels: exp_fast against std::exp, the lane-wise reductions against plain sums,
// and Adam's vectorised update against its scalar formula.
#include <doctest/doctest.h>

#include <cmath>
#include <limits>
#include <vector>

#include "softmoe/kernels/adam.hpp"
#include "softmoe/kernels/vector_ops.hpp"
#include "softmoe/optim.hpp"

using namespace softmoe;

TEST_CASE("kernels: exp_fast is within a few ulp of std::exp, with exact limits") {
  double worst = 0;
  for (float x = -87.0f; x <= 88.0f; x += 0.0137f) {
    const double exact = std::exp(static_cast<double>(x));
    worst = std::max(worst, std::abs(kernels::exp_fast(x) - exact) / exact);
  }
  CHECK(worst < 4 * std::numeric_limits<float>::epsilon());
  CHECK(kernels::exp_fast(0.0f) == 1.0f);
  CHECK(kernels::exp_fast(-100.0f) == 0.0f);
  CHECK(std::isinf(kernels::exp_fast(100.0f)));
  CHECK(std::isnan(kernels::exp_fast(std::numeric_limits<float>::quiet_NaN())));
  CHECK(kernels::exp_fast(0.5) == std::exp(0.5));  // double: the library's exp
}

TEST_CASE("kernels: dot, sum and max_value over lengths around the lane count") {
  for (long n : {1L, 7L, 16L, 17L, 196L}) {
    CAPTURE(n);
    std::vector<double> a(n), b(n);
    double dot = 0, sum = 0, max = -1e300;
    for (long i = 0; i < n; ++i) {
      a[i] = std::sin(0.3 * i) + 0.1;
      b[i] = std::cos(0.7 * i);
      dot += a[i] * b[i];
      sum += a[i];
      max = std::max(max, a[i]);
    }
    CHECK(kernels::dot(a.data(), b.data(), n) == doctest::Approx(dot).epsilon(1e-12));
    CHECK(kernels::sum(a.data(), n) == doctest::Approx(sum).epsilon(1e-12));
    CHECK(kernels::max_value(a.data(), n) == max);
  }
}

TEST_CASE("kernels: adam_update matches the scalar formula in float, tail included") {
  const std::size_t n = 4096 * 2 + 37;
  std::vector<float> p(n), g(n), m(n), v(n);
  for (std::size_t i = 0; i < n; ++i) {
    p[i] = std::sin(0.01f * i);
    g[i] = std::cos(0.02f * i);
    m[i] = 0.1f * g[i];
    v[i] = 0.01f * g[i] * g[i];
  }
  const kernels::AdamCoefficients<float> c{0.9f, 0.999f, 1e-8f, 1e-3f, 1.5f, 0.99f, 0.01f};
  auto ep = p, em = m, ev = v;
  for (std::size_t i = 0; i < n; ++i) {
    const double gi = g[i] + 0.01 * ep[i];
    em[i] = static_cast<float>(0.9 * em[i] + 0.1 * gi);
    ev[i] = static_cast<float>(0.999 * ev[i] + 0.001 * gi * gi);
    ep[i] = static_cast<float>(0.99 * ep[i] - 1e-3 * em[i] / (std::sqrt(static_cast<double>(ev[i])) * 1.5 + 1e-8));
  }
  kernels::adam_update(p.data(), g.data(), m.data(), v.data(), n, c);
  for (std::size_t i = 0; i < n; i += 97) {
    CHECK(p[i] == doctest::Approx(ep[i]).epsilon(1e-5));
    CHECK(m[i] == doctest::Approx(em[i]).epsilon(1e-5));
    CHECK(v[i] == doctest::Approx(ev[i]).epsilon(1e-5));
  }
}
