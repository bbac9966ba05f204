#pragma once
// Softmax cross-entropy with label smoothing, PyTorch's nn.CrossEntropyLoss(label_smoothing=eps) with
// the default mean reduction: the target of row r is q = (1 - eps) onehot(labels[r]) + eps / K, and
//   loss = (1 / N) sum_r sum_k -q_k log softmax(logits[r])_k
//        = (1 / N) sum_r [ lse_r - (1 - eps) logits[r, labels[r]] - (eps / K) sum_k logits[r, k] ].
// logits, probs [N, K]; labels [N] in [0, K); probs (the softmax) kept for backward; eps in [0, 1].
// eps = 0 is softmax_cross_entropy (loss.hpp). Backward accumulates
//   dlogits[r] += (dloss / N) (probs[r] - q).
#include <cstdint>

namespace softmoe {

template <class T>
T smoothed_cross_entropy_forward(T* probs, const T* logits, const std::int32_t* labels, int N, int K,
                                 double smoothing);

template <class T>
void smoothed_cross_entropy_backward(T* dlogits, const T* probs, const std::int32_t* labels, int N, int K,
                                     double smoothing, T dloss = T(1));

}  // namespace softmoe
