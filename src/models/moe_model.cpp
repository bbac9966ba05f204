#include "softmoe/models/moe_model.hpp"

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <type_traits>

#include "softmoe/layers/expert_init.hpp"
#include "softmoe/layers/linear.hpp"
#include "softmoe/rng.hpp"

namespace softmoe {

template <class T>
MoeModel<T>::MoeModel(const MoeModelConfig& config, int max_batch)
    : config_(config), act_(config.moe, max_batch) {
  moe_ids_ = softmoe_register(params_, config_.moe);
  const auto outputs = static_cast<std::size_t>(config_.outputs);
  head_weight_ = params_.add("head.weight", {outputs, static_cast<std::size_t>(config_.head_inputs())});
  if (config_.head_bias) head_bias_ = params_.add("head.bias", {outputs});
  params_.allocate();
  const auto per_batch = static_cast<std::size_t>(max_batch);
  moe_out_ = make_buffer<T>(per_batch * config_.head_inputs());
  dmoe_out_ = make_buffer<T>(per_batch * config_.head_inputs());
  output_ = make_buffer<T>(per_batch * outputs);
}

template <class T>
MoeModel<T>::~MoeModel() = default;

template <class T>
void MoeModel<T>::init(Rng& rng) {
  softmoe_init(moe_values(), config_.moe, config_.phi_init, rng);
  linear_init(params_.value(head_weight_), config_.head_bias ? params_.value(head_bias_) : static_cast<T*>(nullptr),
              config_.head_inputs(), config_.outputs, rng);
}

template <class T>
const T* MoeModel<T>::forward(const T* x, int B) {
  last_input_ = x;
  softmoe_forward(moe_out_.data(), act_, x, moe_values(), config_.moe, B);
  linear_forward(output_.data(), moe_out_.data(), params_.value(head_weight_),
                 config_.head_bias ? params_.value(head_bias_) : static_cast<const T*>(nullptr), B,
                 config_.head_inputs(), config_.outputs);
  return output_.data();
}

template <class T>
void MoeModel<T>::backward(const T* dout, int B) {
  const int inputs = config_.head_inputs();
  std::fill(dmoe_out_.begin(), dmoe_out_.begin() + static_cast<long>(B) * inputs, T(0));
  linear_backward(dmoe_out_.data(), params_.grad(head_weight_),
                  config_.head_bias ? params_.grad(head_bias_) : static_cast<T*>(nullptr), dout,
                  moe_out_.data(), params_.value(head_weight_), B, inputs, config_.outputs);
  softmoe_backward(static_cast<T*>(nullptr), moe_ids_.grads(params_, config_.moe), dmoe_out_.data(), act_,
                   last_input_, moe_values(), config_.moe, B);
}

template <class T>
const T* MoeModel<T>::forward_selected(const T* x, int B, const ExpertChooser& choose, bool renormalize,
                                       WorkCount* work) {
  if (config_.moe.mixing != Mixing::soft)
    throw std::logic_error("expert subsets are defined for the soft dispatch and combine only");
  if constexpr (std::is_same_v<T, float>) {
    if (!select_ws_) select_ws_ = std::make_unique<SelectionWorkspace>(config_.moe, max_batch());
    const SoftMoeTensors<float> w = moe_values();
    route_batch(*select_ws_, x, w, config_.moe, B);
    choose(*select_ws_, 0, B);
    run_kept_experts(moe_out_.data(), *select_ws_, x, w, config_.moe, B, renormalize, work);
    linear_forward(output_.data(), moe_out_.data(), params_.value(head_weight_),
                   config_.head_bias ? params_.value(head_bias_) : static_cast<const float*>(nullptr), B,
                   config_.head_inputs(), config_.outputs);
    return output_.data();
  } else {
    (void)x, (void)B, (void)choose, (void)renormalize, (void)work;
    throw std::logic_error("MoeModel::forward_selected exists for float models only");
  }
}

template class MoeModel<float>;
template class MoeModel<double>;

}  // namespace softmoe
