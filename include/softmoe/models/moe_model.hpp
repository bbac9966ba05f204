#pragma once
// A Soft MoE layer over the tokens of each example, flattened, then a linear head:
//   x [B, m, d] -> SoftMoE -> [B, m, d_out] = [B, m d_out] -> Linear -> out [B, outputs]
// The synthetic experiment (one output, MSE) and the paper's MNIST model (10 classes, cross-entropy)
// are both this model with different settings. Parameter names are the checkpoint contract:
// router.phi, router.scale, experts.w1, experts.b1, experts.w2, experts.b2, head.weight, head.bias.
#include <cstddef>
#include <memory>
#include <vector>

#include "softmoe/layers/softmoe.hpp"
#include "softmoe/layers/softmoe_selected.hpp"
#include "softmoe/models/model.hpp"
#include "softmoe/params.hpp"
#include "softmoe/tensor.hpp"

namespace softmoe {

class Rng;

struct MoeModelConfig {
  SoftMoeShape moe;
  int outputs = 1;
  bool head_bias = true;
  PhiInit phi_init = PhiInit::normal;

  int head_inputs() const { return moe.tokens * moe.dim_out; }
};

// Inputs are the tokens x [B, m, d] (input_size() = m d); outputs [B, outputs].
template <class T>
class MoeModel final : public Model<T> {
 public:
  MoeModel(const MoeModelConfig& config, int max_batch);
  ~MoeModel() override;

  void init(Rng& rng) override;

  const T* forward(const T* x, int B) override;
  void backward(const T* dout, int B) override;
  // The first call allocates the selection workspace (sized for max_batch).
  const T* forward_selected(const T* x, int B, const ExpertChooser& choose, bool renormalize,
                            WorkCount* work) override;

  ParamBuffer<T>& params() override { return params_; }
  const ParamBuffer<T>& params() const { return params_; }
  int max_batch() const override { return act_.max_batch; }
  int outputs() const override { return config_.outputs; }
  std::size_t input_size() const override {
    return static_cast<std::size_t>(config_.moe.tokens) * static_cast<std::size_t>(config_.moe.dim);
  }
  std::vector<SoftMoeShape> moe_layers() const override { return {config_.moe}; }
  double dense_flops_per_input() const override { return 2.0 * config_.head_inputs() * config_.outputs; }

  int routing_layers() const override { return 1; }
  LayerRouting<T> last_routing(int) const override {
    return {config_.moe.tokens, config_.moe.experts, config_.moe.slots, act_.combine.data(), act_.dispatch.data()};
  }

  const MoeModelConfig& config() const { return config_; }
  SoftMoeTensors<T> moe_values() { return moe_ids_.values(params_, config_.moe); }
  // The Soft MoE layer's activations of the last forward(). Training may clear store_slots (backward does
  // not need the slot tensors); the oracle needs them.
  SoftMoeActivations<T>& moe_activations() { return act_; }

 private:
  MoeModelConfig config_;
  ParamBuffer<T> params_;
  SoftMoeParamIds moe_ids_;
  std::size_t head_weight_ = 0, head_bias_ = 0;
  SoftMoeActivations<T> act_;
  Buffer<T> moe_out_;   // [B, m, d_out]
  Buffer<T> dmoe_out_;  // [B, m, d_out]
  Buffer<T> output_;    // [B, outputs]
  const T* last_input_ = nullptr;
  std::unique_ptr<SelectionWorkspace> select_ws_;  // forward_selected (float models only)
};

extern template class MoeModel<float>;
extern template class MoeModel<double>;

}  // namespace softmoe
