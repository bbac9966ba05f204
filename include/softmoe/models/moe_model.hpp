#pragma once
// A Soft MoE layer over the tokens of each example, flattened, then a linear head:
//   x [B, m, d] -> SoftMoE -> [B, m, d_out] = [B, m d_out] -> Linear -> out [B, outputs]
// The synthetic experiment (one output, MSE) and the paper's MNIST model (10 classes, cross-entropy)
// are both this model with different settings. Parameter names are the checkpoint contract:
// router.phi, router.scale, experts.w1, experts.b1, experts.w2, experts.b2, head.weight, head.bias.
#include <cstddef>

#include "softmoe/layers/softmoe.hpp"
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

template <class T>
class MoeModel {
 public:
  MoeModel(const MoeModelConfig& config, int max_batch);

  void init(Rng& rng);

  // out [B, outputs]. x [B, m, d] must stay alive and unchanged until backward().
  const T* forward(const T* x, int B);
  // Accumulates parameter gradients from dout [B, outputs] of the last forward call.
  void backward(const T* dout, int B);

  ParamBuffer<T>& params() { return params_; }
  const ParamBuffer<T>& params() const { return params_; }
  const MoeModelConfig& config() const { return config_; }
  int max_batch() const { return act_.max_batch; }
  // Parameters of all experts (w1, w2 and their biases), as the paper counts them.
  std::size_t expert_param_count() const;
  SoftMoeTensors<T> moe_values() { return moe_ids_.values(params_, config_.moe); }
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
};

extern template class MoeModel<float>;
extern template class MoeModel<double>;

}  // namespace softmoe
