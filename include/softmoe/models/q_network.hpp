#pragma once
// The value network of the RL agent (Obando-Ceron et al. 2024 at MinAtar scale): a convolution on the
// 10 x 10 x C state, then either a dense penultimate layer or a Soft MoE in its place, then a linear Q
// head over the 6 actions. States are channels last, as the games render them.
//   x [B, 10, 10, C] -> Conv 3x3 VALID (F filters) + ReLU -> e [B, 8, 8, F]
//   dense:    e flattened [B, 64 F] -> Linear(hidden k) + ReLU -> Linear(6) -> q [B, 6]
//   softmoe:  tokens from e (per-conv: 64 tokens of width F; per-feat: F tokens of width 64)
//             -> Soft MoE (n experts, p = ceil(tokens / n) slots each, normalisation off, experts
//                width -> expert_hidden -> width with biases and ReLU) -> flattened -> Linear(6) -> q
// Parameter names (the checkpoint contract): conv.weight [3, 3, C, F], conv.bias [F]; dense: hidden.weight,
// hidden.bias; softmoe: moe.router.phi, moe.router.scale (unused), moe.experts.w1/b1/w2/b2; q.weight
// [6, features], q.bias [6].
#include <cstddef>
#include <string>
#include <vector>

#include "softmoe/layers/conv2d.hpp"
#include "softmoe/layers/softmoe.hpp"
#include "softmoe/models/model.hpp"
#include "softmoe/names.hpp"
#include "softmoe/params.hpp"
#include "softmoe/tensor.hpp"

namespace softmoe {

enum class QHead { dense, softmoe };
inline constexpr EnumName<QHead> kQHeadNames[] = {{QHead::dense, "dense"}, {QHead::softmoe, "softmoe"}};
inline const char* to_string(QHead value) { return name_of(value, kQHeadNames); }

enum class Tokenize { per_conv, per_feat };
inline constexpr EnumName<Tokenize> kTokenizeNames[] = {{Tokenize::per_conv, "per-conv"},
                                                        {Tokenize::per_feat, "per-feat"}};
inline const char* to_string(Tokenize value) { return name_of(value, kTokenizeNames); }

struct QNetworkConfig {
  int channels = 4;       // C, the game's state channels
  int filters = 16;       // F
  QHead head = QHead::softmoe;
  int hidden = 128;       // dense: the penultimate width per unit of width_mult
  int width_mult = 1;     // dense: k
  int experts = 8;        // softmoe: n
  int expert_hidden = 128;
  Tokenize tokenize = Tokenize::per_conv;
  int actions = 6;

  Conv2dShape conv() const { return {10, 10, channels, 3, filters}; }
  int encoder_size() const { return 64 * filters; }  // features after the convolution
  int tokens() const { return tokenize == Tokenize::per_conv ? 64 : filters; }
  int token_width() const { return tokenize == Tokenize::per_conv ? filters : 64; }
  SoftMoeShape moe() const;
  int dense_width() const { return hidden * width_mult; }
  int q_inputs() const { return head == QHead::dense ? dense_width() : encoder_size(); }
};

template <class T>
class QNetwork final : public Model<T> {
 public:
  QNetwork(const QNetworkConfig& config, int max_batch);

  // conv, dense and q as PyTorch's defaults (uniform in +-1/sqrt(fan_in)); Phi normal with std
  // 1/sqrt(width) (lecun normal); experts as nn.Linear's default.
  void init(Rng& rng) override;
  const T* forward(const T* x, int B) override;
  void backward(const T* dq, int B) override;
  const T* forward_selected(const T*, int, const ExpertChooser&, bool, WorkCount*) override;

  ParamBuffer<T>& params() override { return params_; }
  const ParamBuffer<T>& params() const { return params_; }
  int max_batch() const override { return max_batch_; }
  int outputs() const override { return config_.actions; }
  std::size_t input_size() const override { return static_cast<std::size_t>(100 * config_.channels); }
  std::vector<SoftMoeShape> moe_layers() const override;
  double dense_flops_per_input() const override;
  const QNetworkConfig& config() const { return config_; }

  // The features the Q head reads, [B, q_inputs()], of the last forward() (dormant-unit statistics).
  const T* penultimate() const;

 private:
  QNetworkConfig config_;
  int max_batch_;
  ParamBuffer<T> params_;
  std::size_t conv_w_ = 0, conv_b_ = 0, hidden_w_ = 0, hidden_b_ = 0, q_w_ = 0, q_b_ = 0;
  SoftMoeParamIds moe_ids_{};
  SoftMoeActivations<T> moe_act_;
  const T* last_input_ = nullptr;
  Buffer<T> cols_, dcols_;            // [B 64, 9 C]
  Buffer<T> conv_pre_, encoded_;      // [B, 64 F] before and after the ReLU
  Buffer<T> tokens_;                  // [B, tokens, width] (per-feat: encoded transposed)
  Buffer<T> features_;                // [B, q_inputs]: the dense layer's ReLU output or the Soft MoE's output
  Buffer<T> hidden_pre_;              // [B, dense width]
  Buffer<T> q_;                       // [B, 6]
  Buffer<T> dfeatures_, dhidden_pre_, dtokens_, dencoded_, dconv_pre_;
};

extern template class QNetwork<float>;
extern template class QNetwork<double>;

}  // namespace softmoe
