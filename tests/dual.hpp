#pragma once
// A forward-mode dual number a + b eps (eps^2 = 0): run a templated computation on Dual with the inputs'
// tangents set to a direction v and every result's tangent is its exact directional derivative along v.
// Just what the reference Soft MoE needs: arithmetic, comparisons (on the value), exp, sqrt, erf.
#include <cmath>

namespace softmoe::test {

struct Dual {
  double value = 0, tangent = 0;
  Dual(double v = 0, double t = 0) : value(v), tangent(t) {}  // implicit: constants have tangent 0

  Dual& operator+=(const Dual& o) { return *this = *this + o; }
  Dual& operator-=(const Dual& o) { return *this = *this - o; }
  Dual& operator*=(const Dual& o) { return *this = *this * o; }
  Dual& operator/=(const Dual& o) { return *this = *this / o; }

  friend Dual operator+(const Dual& a, const Dual& b) { return {a.value + b.value, a.tangent + b.tangent}; }
  friend Dual operator-(const Dual& a, const Dual& b) { return {a.value - b.value, a.tangent - b.tangent}; }
  friend Dual operator-(const Dual& a) { return {-a.value, -a.tangent}; }
  friend Dual operator*(const Dual& a, const Dual& b) {
    return {a.value * b.value, a.tangent * b.value + a.value * b.tangent};
  }
  friend Dual operator/(const Dual& a, const Dual& b) {
    return {a.value / b.value, (a.tangent * b.value - a.value * b.tangent) / (b.value * b.value)};
  }
  friend bool operator<(const Dual& a, const Dual& b) { return a.value < b.value; }
  friend bool operator>(const Dual& a, const Dual& b) { return a.value > b.value; }
  friend bool operator==(const Dual& a, const Dual& b) { return a.value == b.value; }

  friend Dual exp(const Dual& a) {
    const double e = std::exp(a.value);
    return {e, e * a.tangent};
  }
  friend Dual sqrt(const Dual& a) {
    const double r = std::sqrt(a.value);
    return {r, a.tangent / (2 * r)};
  }
  friend Dual erf(const Dual& a) {  // erf' = 2 / sqrt(pi) exp(-a^2)
    return {std::erf(a.value), M_2_SQRTPI * std::exp(-a.value * a.value) * a.tangent};
  }
};

}  // namespace softmoe::test
