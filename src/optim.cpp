#include "softmoe/optim.hpp"

#include <cmath>
#include <stdexcept>

#include "softmoe/kernels/adam.hpp"

namespace softmoe {



template <class T>
Optimizer<T>::Optimizer(const OptimizerConfig& config, std::size_t size)
    : config_(config),
      size_(size),
      first_(make_buffer<T>(size)),
      second_(make_buffer<T>(config.kind == OptimizerKind::sgd ? 0 : size)) {}

template <class T>
void Optimizer<T>::step(T* params, const T* grads, double lr_) {
  ++steps_;
  const T lr = static_cast<T>(lr_);
  const T wd = static_cast<T>(config_.weight_decay);
  T* m = first_.data();

  if (config_.kind == OptimizerKind::sgd) {
    const T momentum = static_cast<T>(config_.momentum);
    const bool first_step = steps_ == 1;  // PyTorch starts the buffer at the first gradient
    for (std::size_t i = 0; i < size_; ++i) {
      const T g = grads[i] + wd * params[i];
      m[i] = first_step ? g : momentum * m[i] + g;
      params[i] -= lr * m[i];
    }
    return;
  }

  const T b1 = static_cast<T>(config_.beta1), b2 = static_cast<T>(config_.beta2);
  const T eps = static_cast<T>(config_.eps);
  const double t = static_cast<double>(steps_);
  const T step_size = static_cast<T>(lr_ / (1.0 - std::pow(config_.beta1, t)));
  const T inv_sqrt_bc2 = static_cast<T>(1.0 / std::sqrt(1.0 - std::pow(config_.beta2, t)));
  const bool decoupled = config_.kind == OptimizerKind::adamw;
  const T decay = decoupled ? T(1) - lr * wd : T(1);
  const T l2 = decoupled ? T(0) : wd;
  kernels::adam_update(params, grads, m, second_.data(), size_, {b1, b2, eps, step_size, inv_sqrt_bc2, decay, l2});
}

template class Optimizer<float>;
template class Optimizer<double>;

}  // namespace softmoe
