#pragma once
// Multi-head self-attention, PyTorch's nn.MultiheadAttention(D, H, batch_first=True) called as
// attn(x, x, x, need_weights=False): no mask, no dropout, biases on. Per example, L tokens, H heads of
// width dh = D / H:
//   QKV = x Win^T + bin                [L, 3D]  columns [q | k | v]; head h owns columns h dh..(h+1) dh
//   P_h = softmax_rows(Q_h K_h^T / sqrt(dh))   [L, L]
//   C   = [P_0 V_0 | ... | P_{H-1} V_{H-1}]     [L, D]
//   y   = C Wout^T + bout              [L, D]
// Batched layouts (B examples): x, y, ctx [B, L, D]; qkv [B, L, 3D]; probs [B, H, L, L]. The in- and
// out-projections are one GEMM each over all B L rows; the score and value products are per (example,
// head) GEMMs reading the heads in place (leading dimension 3D), so no head is ever copied out.
//
// Parameters under a prefix, exactly nn.MultiheadAttention's state_dict (the checkpoint contract):
//   in_proj_weight [3D, D] (rows: Wq, Wk, Wv), in_proj_bias [3D], out_proj.weight [D, D] ([out, in]),
//   out_proj.bias [D].
// Backward accumulates into parameter gradients and, when dx is not null, into dx [B, L, D].
#include <cstddef>
#include <string>

#include "softmoe/params.hpp"
#include "softmoe/tensor.hpp"

namespace softmoe {

class Rng;

struct AttentionShape {
  int tokens = 0;  // L
  int dim = 0;     // D
  int heads = 1;   // H, divides D

  int head_dim() const { return dim / heads; }
};

// Throws std::invalid_argument unless tokens, dim, heads > 0 and heads divides dim.
void validate(const AttentionShape& shape);

// Pointers to the layer's tensors inside a ParamBuffer (values or gradients). The biases may be null
// (bias=False) in forward and backward.
template <class T>
struct AttentionTensors {
  T* in_proj_weight = nullptr;   // [3D, D]
  T* in_proj_bias = nullptr;     // [3D]
  T* out_proj_weight = nullptr;  // [D, D]
  T* out_proj_bias = nullptr;    // [D]
};

struct AttentionParamIds {
  std::size_t in_proj_weight, in_proj_bias, out_proj_weight, out_proj_bias;

  template <class T>
  AttentionTensors<T> values(ParamBuffer<T>& params) const {
    return {params.value(in_proj_weight), params.value(in_proj_bias), params.value(out_proj_weight),
            params.value(out_proj_bias)};
  }
  template <class T>
  AttentionTensors<T> grads(ParamBuffer<T>& params) const {
    return {params.grad(in_proj_weight), params.grad(in_proj_bias), params.grad(out_proj_weight),
            params.grad(out_proj_bias)};
  }
};

// Registers PREFIX + in_proj_weight, in_proj_bias, out_proj.weight, out_proj.bias.
template <class T>
AttentionParamIds attention_register(ParamBuffer<T>& params, const AttentionShape& shape,
                                     const std::string& prefix = "");

// nn.MultiheadAttention's initialisation: in_proj_weight Xavier-uniform (+-sqrt(6 / (D + 3D))),
// out_proj.weight uniform in +-1/sqrt(D) (nn.Linear's default), both biases 0.
template <class T>
void attention_init(AttentionTensors<T> w, const AttentionShape& shape, Rng& rng);

// What forward keeps for backward, plus backward's scratch; sized once for max_batch.
template <class T>
struct AttentionActivations {
  AttentionActivations(const AttentionShape& shape, int max_batch);

  int max_batch;
  Buffer<T> qkv;      // [B, L, 3D]
  Buffer<T> probs;    // [B, H, L, L]  softmax(Q K^T / sqrt(dh)) per head
  Buffer<T> ctx;      // [B, L, D]     heads' outputs, concatenated (input of the out-projection)
  // backward scratch
  Buffer<T> dctx;     // [B, L, D]
  Buffer<T> dqkv;     // [B, L, 3D]
  Buffer<T> dscores;  // [L, L]        one (example, head) at a time
};

// y [B, L, D] from x [B, L, D]. B <= act.max_batch; y must not alias x.
template <class T>
void attention_forward(T* y, AttentionActivations<T>& act, const T* x, const AttentionTensors<T>& w,
                       const AttentionShape& shape, int B);

// Accumulates parameter gradients into g and, when dx is not null, input gradients into dx [B, L, D].
// Needs x and the activations of the matching forward call.
template <class T>
void attention_backward(T* dx, const AttentionTensors<T>& g, const T* dy, AttentionActivations<T>& act,
                        const T* x, const AttentionTensors<T>& w, const AttentionShape& shape, int B);

}  // namespace softmoe
