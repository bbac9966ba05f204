#pragma once
// What training and evaluation need from an image classifier, whatever its architecture: a batched
// forward to logits, a backward from dlogits, the flat parameters. Adapters wrap the paper's MNIST
// MoeModel (inputs: tokens [B, m, d]) and the VitModel (inputs: normalised images [B, rows cols]).
#include <cstddef>

#include "softmoe/models/moe_model.hpp"
#include "softmoe/models/vit.hpp"
#include "softmoe/params.hpp"

namespace softmoe {

class Classifier {
 public:
  virtual ~Classifier() = default;
  // logits [B, classes()] from inputs [B, input_size()], B <= max_batch(); valid until the next call.
  virtual const float* forward(const float* inputs, int B) = 0;
  // Accumulates parameter gradients from dlogits [B, classes()] of the last forward call.
  virtual void backward(const float* dlogits, int B) = 0;
  virtual ParamBuffer<float>& params() = 0;
  virtual int max_batch() const = 0;
  virtual int classes() const = 0;
  virtual std::size_t input_size() const = 0;          // floats per example
  virtual std::size_t expert_param_count() const = 0;  // all experts of all MoE layers; 0 for a dense model
};

// The paper's model; its Soft MoE layer does not keep the slots while wrapped (training and evaluation
// do not need them), as before the interface existed.
class MoeClassifier final : public Classifier {
 public:
  explicit MoeClassifier(MoeModel<float>& model);
  ~MoeClassifier() override;
  MoeClassifier(const MoeClassifier&) = delete;
  MoeClassifier& operator=(const MoeClassifier&) = delete;

  const float* forward(const float* inputs, int B) override { return model_.forward(inputs, B); }
  void backward(const float* dlogits, int B) override { model_.backward(dlogits, B); }
  ParamBuffer<float>& params() override { return model_.params(); }
  int max_batch() const override { return model_.max_batch(); }
  int classes() const override { return model_.config().outputs; }
  std::size_t input_size() const override;
  std::size_t expert_param_count() const override { return model_.expert_param_count(); }

 private:
  MoeModel<float>& model_;
  bool saved_store_slots_;
};

class VitClassifier final : public Classifier {
 public:
  explicit VitClassifier(VitModel<float>& model) : model_(model) {}

  const float* forward(const float* inputs, int B) override { return model_.forward(inputs, B); }
  void backward(const float* dlogits, int B) override { model_.backward(dlogits, B); }
  ParamBuffer<float>& params() override { return model_.params(); }
  int max_batch() const override { return model_.max_batch(); }
  int classes() const override { return model_.config().classes; }
  std::size_t input_size() const override;
  std::size_t expert_param_count() const override { return model_.expert_param_count(); }

 private:
  VitModel<float>& model_;
};

}  // namespace softmoe
