#pragma once
// The representation experiment's data: each example is m tokens of dimension d, each token a
// uniformly random unit direction times a length uniform in [min_length, max_length], so that
// norm-like targets have real variance. Targets:
//   norm    ||X||_F
//   sqnorm  ||X||_F^2
//   maxnorm max_i ||x_i||  (the largest token norm)
#include <string>

#include "softmoe/tensor.hpp"

namespace softmoe {

class Rng;

enum class SyntheticTarget { norm, sqnorm, maxnorm };

SyntheticTarget parse_synthetic_target(const std::string& name);  // throws std::invalid_argument
const char* to_string(SyntheticTarget target);

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
