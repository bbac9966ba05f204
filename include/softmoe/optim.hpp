#pragma once
// Optimisers over the one flat parameter buffer, with PyTorch's update rules:
//   sgd:   buf = momentum buf + g (+ weight_decay p);  p -= lr buf
//   adam:  g += weight_decay p (L2), then Adam with bias correction
//   adamw: p *= 1 - lr weight_decay (decoupled), then Adam
#include <cstddef>
#include <string>

#include "softmoe/names.hpp"

#include "softmoe/tensor.hpp"

namespace softmoe {

enum class OptimizerKind { sgd, adam, adamw };

inline constexpr EnumName<OptimizerKind> kOptimizerNames[] = {{OptimizerKind::sgd, "sgd"}, {OptimizerKind::adam, "adam"}, {OptimizerKind::adamw, "adamw"}};

// throws std::invalid_argument naming the known names
inline OptimizerKind parse_optimizer(const std::string& name) { return value_named(name, kOptimizerNames, "optimizer"); }
inline const char* to_string(OptimizerKind value) { return name_of(value, kOptimizerNames); }

struct OptimizerConfig {
  OptimizerKind kind = OptimizerKind::adam;
  double lr = 1e-3;
  double beta1 = 0.9;
  double beta2 = 0.999;
  double eps = 1e-8;
  double weight_decay = 0.0;
  double momentum = 0.9;  // sgd only
};

template <class T>
class Optimizer {
 public:
  Optimizer(const OptimizerConfig& config, std::size_t size);

  // One update of params [size] from grads [size]; lr overrides config.lr (for schedules).
  void step(T* params, const T* grads, double lr);
  void step(T* params, const T* grads) { step(params, grads, config_.lr); }

  const OptimizerConfig& config() const { return config_; }
  long steps_taken() const { return steps_; }
  // State for checkpoints: first and second moments (sgd keeps its momentum in `first`).
  Buffer<T>& first() { return first_; }
  Buffer<T>& second() { return second_; }
  void set_steps_taken(long steps) { steps_ = steps; }

 private:
  OptimizerConfig config_;
  std::size_t size_;
  long steps_ = 0;
  Buffer<T> first_;
  Buffer<T> second_;
};

extern template class Optimizer<float>;
extern template class Optimizer<double>;

}  // namespace softmoe
