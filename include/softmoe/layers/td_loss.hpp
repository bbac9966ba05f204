#pragma once
// The DQN temporal-difference loss: Huber (smooth L1 with delta 1, PyTorch's F.smooth_l1_loss and
// Dopamine's default) between the chosen action's value and its target, averaged over the batch.
//   q [B, A], actions [B] in [0, A), targets [B] (constants: no gradient flows into them)
//   loss = mean_b huber(q[b, actions[b]] - targets[b]),  huber(e) = e^2 / 2 if |e| < 1 else |e| - 1/2
// Backward accumulates dq [B, A] (only the chosen actions' entries change), scaled by dloss.
#include <cstdint>

namespace softmoe {

template <class T>
T td_huber_forward(const T* q, const std::int32_t* actions, const T* targets, int B, int A);

template <class T>
void td_huber_backward(T* dq, const T* q, const std::int32_t* actions, const T* targets, int B, int A,
                       T dloss = T(1));

}  // namespace softmoe
