#pragma once
// A pre-LayerNorm transformer block assembled from the layers, for tests only (the model owns the real one):
//   x1 = x + MHA(LN1(x));   y = x1 + fc2(GELU(fc1(LN2(x1))))
// x, x1, y [B, L, D]; fc1 D -> 4D, fc2 4D -> D, both with bias. Parameter names are timm's Block:
// norm1.{weight,bias}, attn.{in_proj_weight,in_proj_bias,out_proj.weight,out_proj.bias},
// norm2.{weight,bias}, mlp.fc1.{weight,bias} [4D, D] [4D], mlp.fc2.{weight,bias} [D, 4D] [D].
#include <algorithm>
#include <cstddef>
#include <vector>

#include "softmoe/layers/activation.hpp"
#include "softmoe/layers/attention.hpp"
#include "softmoe/layers/layernorm.hpp"
#include "softmoe/layers/linear.hpp"
#include "softmoe/params.hpp"

namespace softmoe::testing {

template <class T>
struct TestBlock {
  int B, L, D, F;  // F = 4 D, the MLP's hidden width
  AttentionShape shape;
  ParamBuffer<T> params;
  LayerNormParamIds norm1, norm2;
  AttentionParamIds attn;
  std::size_t fc1_weight, fc1_bias, fc2_weight, fc2_bias;
  AttentionActivations<T> act;
  std::vector<T> ln1, mean1, rstd1, attn_out, x1, ln2, mean2, rstd2, hidden_pre, hidden, y;  // forward
  std::vector<T> dx1, dln, dhidden, dhidden_pre;                                             // backward

  TestBlock(int batch, int tokens, int dim, int heads)
      : B(batch), L(tokens), D(dim), F(4 * dim), shape{tokens, dim, heads}, act(shape, batch) {
    const auto d = static_cast<std::size_t>(D), f = static_cast<std::size_t>(F);
    norm1 = layernorm_register(params, D, "norm1.");
    attn = attention_register(params, shape, "attn.");
    norm2 = layernorm_register(params, D, "norm2.");
    fc1_weight = params.add("mlp.fc1.weight", {f, d});
    fc1_bias = params.add("mlp.fc1.bias", {f});
    fc2_weight = params.add("mlp.fc2.weight", {d, f});
    fc2_bias = params.add("mlp.fc2.bias", {d});
    params.allocate();
    const std::size_t rows = static_cast<std::size_t>(B) * L;
    for (auto* v : {&ln1, &attn_out, &x1, &ln2, &y, &dx1, &dln}) v->resize(rows * d);
    for (auto* v : {&mean1, &rstd1, &mean2, &rstd2}) v->resize(rows);
    for (auto* v : {&hidden_pre, &hidden, &dhidden, &dhidden_pre}) v->resize(rows * f);
  }

  const T* forward(const T* x) {
    const int R = B * L;
    const std::size_t n = static_cast<std::size_t>(R) * D;
    auto n1 = norm1.values(params), n2 = norm2.values(params);
    layernorm_forward(ln1.data(), mean1.data(), rstd1.data(), x, n1.weight, n1.bias, R, D);
    attention_forward(attn_out.data(), act, ln1.data(), attn.values(params), shape, B);
    for (std::size_t i = 0; i < n; ++i) x1[i] = x[i] + attn_out[i];
    layernorm_forward(ln2.data(), mean2.data(), rstd2.data(), x1.data(), n2.weight, n2.bias, R, D);
    linear_forward(hidden_pre.data(), ln2.data(), params.value(fc1_weight), params.value(fc1_bias), R, D, F);
    activation_forward(hidden.data(), hidden_pre.data(), hidden.size(), Activation::gelu);
    linear_forward(y.data(), hidden.data(), params.value(fc2_weight), params.value(fc2_bias), R, F, D);
    for (std::size_t i = 0; i < n; ++i) y[i] += x1[i];
    return y.data();
  }

  // Accumulates parameter gradients and dx [B, L, D] from dy, after forward(x).
  void backward(T* dx, const T* dy, const T* x) {
    const int R = B * L;
    const std::size_t n = static_cast<std::size_t>(R) * D;
    auto n1 = norm1.values(params), n2 = norm2.values(params);
    std::copy(dy, dy + n, dx1.begin());  // the residual path
    std::fill(dhidden.begin(), dhidden.end(), T(0));
    linear_backward(dhidden.data(), params.grad(fc2_weight), params.grad(fc2_bias), dy, hidden.data(),
                    params.value(fc2_weight), R, F, D);
    std::fill(dhidden_pre.begin(), dhidden_pre.end(), T(0));
    activation_backward(dhidden_pre.data(), dhidden.data(), hidden_pre.data(), hidden.size(), Activation::gelu);
    std::fill(dln.begin(), dln.end(), T(0));
    linear_backward(dln.data(), params.grad(fc1_weight), params.grad(fc1_bias), dhidden_pre.data(), ln2.data(),
                    params.value(fc1_weight), R, D, F);
    auto g2 = norm2.grads(params);
    layernorm_backward(dx1.data(), g2.weight, g2.bias, dln.data(), x1.data(), mean2.data(), rstd2.data(),
                       n2.weight, R, D);
    for (std::size_t i = 0; i < n; ++i) dx[i] += dx1[i];
    std::fill(dln.begin(), dln.end(), T(0));
    attention_backward(dln.data(), attn.grads(params), dx1.data(), act, ln1.data(), attn.values(params), shape, B);
    auto g1 = norm1.grads(params);
    layernorm_backward(dx, g1.weight, g1.bias, dln.data(), x, mean1.data(), rstd1.data(), n1.weight, R, D);
  }
};

}  // namespace softmoe::testing
