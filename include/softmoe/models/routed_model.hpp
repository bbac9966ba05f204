#pragma once
// The paper's MNIST model with a sparse router in place of the Soft MoE (sparse_moe.hpp):
//   x [B, m, d] -> sparse MoE (Tokens Choice, Experts Choice or dense) -> [B, m d_out] -> Linear -> [B, outputs]
// Parameter names are the checkpoint contract: router.weight [d, n] (not for dense), experts.w1, experts.b1,
// experts.w2, experts.b2 (as the Soft MoE's), head.weight [outputs, m d_out], head.bias [outputs].
// A prediction depends on the other images of its routing group (unlike the Soft MoE's).
#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "softmoe/layers/sparse_moe.hpp"
#include "softmoe/models/model.hpp"
#include "softmoe/params.hpp"
#include "softmoe/rng.hpp"
#include "softmoe/tensor.hpp"

namespace softmoe {

struct RoutedModelConfig {
  SparseMoeShape moe;
  int outputs = 10;
  bool head_bias = false;

  int head_inputs() const { return moe.tokens * moe.dim_out; }
};

template <class T>
class RoutedMoeModel final : public Model<T> {
 public:
  RoutedMoeModel(const RoutedModelConfig& config, int max_batch);

  void init(Rng& rng) override;
  const T* forward(const T* x, int B) override;
  void backward(const T* dout, int B) override;
  // Throws std::logic_error: a sparse router chooses its own experts.
  const T* forward_selected(const T* x, int B, const ExpertChooser& choose, bool renormalize, WorkCount* work) override;

  ParamBuffer<T>& params() override { return params_; }
  const ParamBuffer<T>& params() const { return params_; }
  int max_batch() const override { return act_.max_batch; }
  int outputs() const override { return config_.outputs; }
  std::size_t input_size() const override {
    return static_cast<std::size_t>(config_.moe.tokens) * static_cast<std::size_t>(config_.moe.dim);
  }
  std::vector<SoftMoeShape> moe_layers() const override { return {}; }
  // The head and the router logits.
  double dense_flops_per_input() const override;
  std::size_t expert_param_count() const override { return sparse_expert_params(config_.moe); }

  void set_training(bool training, std::uint64_t noise_seed) override;
  double auxiliary_loss() const override { return act_.last.aux_loss; }
  const RoutingCounts* routing_counts() const override { return &counts_; }
  void reset_routing_counts() override { counts_ = RoutingCounts{}; }
  double measured_expert_flops() const override;

  int routing_layers() const override { return 1; }
  LayerRouting<T> last_routing(int) const override {
    return {config_.moe.tokens, config_.moe.experts, 1, act_.gates.data(), nullptr};
  }

  const RoutedModelConfig& config() const { return config_; }
  const SparseMoeActivations<T>& moe_activations() const { return act_; }

 private:
  RoutedModelConfig config_;
  ParamBuffer<T> params_;
  SparseMoeParamIds moe_ids_;
  std::size_t head_weight_ = 0, head_bias_ = 0;
  SparseMoeActivations<T> act_;
  Buffer<T> noise_;     // [B m, n]
  Buffer<T> moe_out_;   // [B, m, d_out]
  Buffer<T> dmoe_out_;  // [B, m, d_out]
  Buffer<T> output_;    // [B, outputs]
  const T* last_input_ = nullptr;
  bool training_ = false;
  std::unique_ptr<Rng> noise_rng_;
  RoutingCounts counts_;
};

extern template class RoutedMoeModel<float>;
extern template class RoutedMoeModel<double>;

}  // namespace softmoe
