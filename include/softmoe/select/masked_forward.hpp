#pragma once
// Soft MoE inference with a per-input subset of experts (Algorithm 2 of Chung et al.): the router runs
// on the whole batch; then each expert runs once, on the sub-batch of inputs that kept it, as one GEMM
// pair over a contiguous block of their slots. Dropped experts are not computed and contribute zero;
// the outputs are combined with the original C, or with C renormalised over the kept slots (the
// variant whose dropped logits are set to -inf before both softmaxes).
#include <cstdint>
#include <vector>

#include "softmoe/layers/softmoe.hpp"
#include "softmoe/tensor.hpp"

namespace softmoe {

struct SelectionWorkspace {
  SelectionWorkspace(const SoftMoeShape& shape, int max_batch);

  int max_batch;
  Buffer<float> xr, token_norm, phir, phi_norm;  // normalised tokens [B, m, d] and router [d, S]
  Buffer<float> logits, dispatch, combine;        // [B, m, S]
  Buffer<float> scores;                           // [B, n]
  std::vector<std::uint8_t> keep;                 // [B, n], filled by the caller between the two steps
  Buffer<float> kept_weight;                      // [B, m]  combine weight on kept slots, per token
  std::vector<std::int32_t> members;              // inputs that kept the current expert
  Buffer<float> slot_in, hidden, slot_out;        // one expert's block: [B p, d], [B p, h], [B p, d_out]
};

// Work done, summed over inputs, in floating-point operations (a multiply-add counts 2).
struct WorkCount {
  double expert = 0;  // the experts' two layers
  double total = 0;   // router, dispatch, experts, combine
};

// Step 1: router logits, dispatch D and combine C for x [B, m, d] into ws (and the expert scores).
void route_batch(SelectionWorkspace& ws, const float* x, const SoftMoeTensors<float>& w, const SoftMoeShape& shape,
                 int B);

// Step 2: y [B, m, d_out] from the routed batch and ws.keep. Adds the work done to `work` if not null.
void run_kept_experts(float* y, SelectionWorkspace& ws, const float* x, const SoftMoeTensors<float>& w,
                      const SoftMoeShape& shape, int B, bool renormalize, WorkCount* work);

}  // namespace softmoe
