#include "softmoe/models/routed_model.hpp"

#include <algorithm>
#include <cmath>
#include <stdexcept>

#include "softmoe/layers/expert_init.hpp"
#include "softmoe/layers/linear.hpp"

namespace softmoe {

template <class T>
RoutedMoeModel<T>::RoutedMoeModel(const RoutedModelConfig& config, int max_batch)
    : config_(config), act_(config.moe, max_batch) {
  moe_ids_ = sparse_moe_register(params_, config_.moe);
  const auto outputs = static_cast<std::size_t>(config_.outputs);
  head_weight_ = params_.add("head.weight", {outputs, static_cast<std::size_t>(config_.head_inputs())});
  if (config_.head_bias) head_bias_ = params_.add("head.bias", {outputs});
  params_.allocate();
  const auto batch = static_cast<std::size_t>(max_batch);
  const auto tokens = batch * static_cast<std::size_t>(config_.moe.tokens);
  noise_ = make_buffer<T>(config_.moe.noise_std > 0 ? tokens * static_cast<std::size_t>(config_.moe.experts) : 0);
  moe_out_ = make_buffer<T>(batch * config_.head_inputs());
  dmoe_out_ = make_buffer<T>(batch * config_.head_inputs());
  output_ = make_buffer<T>(batch * outputs);
}

template <class T>
void RoutedMoeModel<T>::init(Rng& rng) {
  sparse_moe_init(moe_ids_.values(params_, config_.moe), config_.moe, rng);
  linear_init(params_.value(head_weight_), config_.head_bias ? params_.value(head_bias_) : static_cast<T*>(nullptr),
              config_.head_inputs(), config_.outputs, rng);
}

template <class T>
void RoutedMoeModel<T>::set_training(bool training, std::uint64_t noise_seed) {
  training_ = training;
  if (training && config_.moe.noise_std > 0) noise_rng_ = std::make_unique<Rng>(noise_seed, Stream::router_noise);
}

template <class T>
const T* RoutedMoeModel<T>::forward(const T* x, int B) {
  last_input_ = x;
  const SparseMoeShape& s = config_.moe;
  const T* noise = nullptr;
  if (training_ && s.noise_std > 0 && s.routed()) {
    const double std = s.noise_std / s.experts;
    const long values = static_cast<long>(B) * s.tokens * s.experts;
    for (long i = 0; i < values; ++i) noise_[i] = static_cast<T>(std * noise_rng_->normal());
    noise = noise_.data();
  }
  sparse_moe_forward(moe_out_.data(), act_, x, noise, moe_ids_.values(params_, s), B);
  counts_.add(act_.last);
  linear_forward(output_.data(), moe_out_.data(), params_.value(head_weight_),
                 config_.head_bias ? params_.value(head_bias_) : static_cast<const T*>(nullptr), B,
                 config_.head_inputs(), config_.outputs);
  return output_.data();
}

template <class T>
void RoutedMoeModel<T>::backward(const T* dout, int B) {
  const int inputs = config_.head_inputs();
  std::fill(dmoe_out_.begin(), dmoe_out_.begin() + static_cast<long>(B) * inputs, T(0));
  linear_backward(dmoe_out_.data(), params_.grad(head_weight_),
                  config_.head_bias ? params_.grad(head_bias_) : static_cast<T*>(nullptr), dout, moe_out_.data(),
                  params_.value(head_weight_), B, inputs, config_.outputs);
  sparse_moe_backward(static_cast<T*>(nullptr), moe_ids_.grads(params_, config_.moe), dmoe_out_.data(), act_,
                      last_input_, moe_ids_.values(params_, config_.moe), B);
}

template <class T>
const T* RoutedMoeModel<T>::forward_selected(const T*, int, const ExpertChooser&, bool, WorkCount*) {
  throw std::logic_error("a sparse router chooses its own experts: no expert subsets");
}

template <class T>
double RoutedMoeModel<T>::dense_flops_per_input() const {
  const SparseMoeShape& s = config_.moe;
  const double router = s.routed() ? 2.0 * s.tokens * s.dim * s.experts : 0.0;
  return router + 2.0 * config_.head_inputs() * config_.outputs;
}

template <class T>
double RoutedMoeModel<T>::measured_expert_flops() const {
  const SparseMoeShape& s = config_.moe;
  return static_cast<double>(counts_.kept) * 2.0 * (static_cast<double>(s.dim) * s.hidden + static_cast<double>(s.hidden) * s.dim_out);
}

template class RoutedMoeModel<float>;
template class RoutedMoeModel<double>;

}  // namespace softmoe
