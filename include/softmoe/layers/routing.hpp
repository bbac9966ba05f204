#pragma once
// The Soft MoE router's building blocks: l2 normalisation of token rows and of router columns, and
// the two softmaxes over one logits tensor. Backward passes accumulate into their first argument.

namespace softmoe {

// out [R, d] = in / (||row|| + eps); norms [R] keeps ||row||.
template <class T>
void l2_normalize_rows_forward(T* out, T* norms, const T* in, int R, int d);
template <class T>
void l2_normalize_rows_backward(T* din, const T* dout, const T* in, const T* norms, int R, int d);

// in [d, S]: out[:, s] = scale * in[:, s] / (||in[:, s]|| + eps); norms [S] keeps the column norms.
template <class T>
void scaled_l2_normalize_columns_forward(T* out, T* norms, const T* in, T scale, int d, int S);
template <class T>
void scaled_l2_normalize_columns_backward(T* din, T* dscale, const T* dout, const T* in, const T* norms,
                                          T scale, int d, int S);

// logits, probs [B, m, S]: softmax over the m tokens of each example, per slot (dispatch weights).
template <class T>
void softmax_tokens_forward(T* probs, const T* logits, int B, int m, int S);
template <class T>
void softmax_tokens_backward(T* dlogits, const T* dprobs, const T* probs, int B, int m, int S);

// logits, probs [R, S]: softmax over the S slots of each row (combine weights).
template <class T>
void softmax_slots_forward(T* probs, const T* logits, int R, int S);
template <class T>
void softmax_slots_backward(T* dlogits, const T* dprobs, const T* probs, int R, int S);

}  // namespace softmoe
