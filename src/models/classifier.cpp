#include "softmoe/models/classifier.hpp"

namespace softmoe {

MoeClassifier::MoeClassifier(MoeModel<float>& model)
    : model_(model), saved_store_slots_(model.moe_activations().store_slots) {
  model.moe_activations().store_slots = false;
}

MoeClassifier::~MoeClassifier() { model_.moe_activations().store_slots = saved_store_slots_; }

std::size_t MoeClassifier::input_size() const {
  return static_cast<std::size_t>(model_.config().moe.tokens) * model_.config().moe.dim;
}

std::size_t VitClassifier::input_size() const {
  return static_cast<std::size_t>(model_.config().rows) * model_.config().cols;
}

}  // namespace softmoe
