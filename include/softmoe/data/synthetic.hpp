#pragma once
// The representation experiment's data: each example is m tokens of dimension d, each token a
// uniformly random unit direction times a length uniform in [min_length, max_length], so that
// norm-like targets have real variance. Targets:
//   norm    ||X||_F
//   sqnorm  ||X||_F^2
//   maxnorm max_i ||x_i||  (the largest token norm)
#include <string>

#include "softmoe/names.hpp"

#include "softmoe/tensor.hpp"

namespace softmoe {

class Rng;

enum class SyntheticTarget { norm, sqnorm, maxnorm };

inline constexpr EnumName<SyntheticTarget> kSyntheticTargetNames[] = {{SyntheticTarget::norm, "norm"}, {SyntheticTarget::sqnorm, "sqnorm"}, {SyntheticTarget::maxnorm, "maxnorm"}};

// throws std::invalid_argument naming the known names
inline SyntheticTarget parse_synthetic_target(const std::string& name) { return value_named(name, kSyntheticTargetNames, "target"); }
inline const char* to_string(SyntheticTarget value) { return name_of(value, kSyntheticTargetNames); }

struct SyntheticSpec {
  int tokens = 8;
  int dim = 16;
  double min_length = 0.5;
  double max_length = 2.0;
  SyntheticTarget target = SyntheticTarget::norm;
};

struct RegressionData {
  int count = 0;
  Buffer<float> x;  // [count, tokens, dim]
  Buffer<float> y;  // [count]
};

RegressionData make_synthetic(const SyntheticSpec& spec, int count, Rng& rng);

// Population variance of y (the MSE of always predicting the mean).
double variance(const Buffer<float>& y);

}  // namespace softmoe
