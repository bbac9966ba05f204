#pragma once
// Losses, averaged over the batch as PyTorch's default reduction does.
//   softmax cross-entropy: logits [N, K], labels [N] in [0, K), probs [N, K] kept for backward
//   mean squared error:    pred [n], target [n]
// Backward accumulates into dlogits / dpred, scaled by dloss (1 for a plain loss).
#include <cstddef>
#include <cstdint>

namespace softmoe {

template <class T>
T softmax_cross_entropy_forward(T* probs, const T* logits, const std::int32_t* labels, int N, int K);

template <class T>
void softmax_cross_entropy_backward(T* dlogits, const T* probs, const std::int32_t* labels, int N, int K,
                                    T dloss = T(1));

// Number of rows whose largest logit is the label (first maximum wins ties).
template <class T>
int count_correct(const T* logits, const std::int32_t* labels, int N, int K);

template <class T>
T mse_forward(const T* pred, const T* target, std::size_t n);

template <class T>
void mse_backward(T* dpred, const T* pred, const T* target, std::size_t n, T dloss = T(1));

}  // namespace softmoe
