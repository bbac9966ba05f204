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
  Buffer<float> logits, combine;                  // [B, m, S]
  Buffer<float> scores;                           // [B, n]
  std::vector<std::uint8_t> keep;                 // [B, n], filled by the caller between the two steps
  // Grouped path only (wide experts):
  Buffer<float> kept_weight;                      // [B, m]  1 / (combine weight on kept slots), per token
  std::vector<std::int32_t> members;              // [B n]  the inputs that kept each expert, grouped by expert
  std::vector<std::int32_t> expert_start;         // [n + 1]  expert e's inputs: members[start[e], start[e + 1])
  Buffer<float> pair_weights;                     // [pairs, p, 2, m]  D and C' of each kept slot, in members' order
  // and per engine thread: one expert's block of slot rows [B p, d], [B p, h], [B p, d_out]; pair cursors [n].
  Buffer<float> slot_in, hidden, slot_out;
  std::vector<std::int32_t> cursors;
  // Narrow experts only (h <= 8): zero-padded weights, w1 transposed (filled by run_kept_experts), and
  // per-thread scratch (softmoe_selected_narrow.cpp's NarrowScratch).
  Buffer<float> w1_t, w2_padded, b2_padded;  // [n, h, dp], [n, h, dp_out], [n, dp_out]
  Buffer<float> narrow_scratch;
  std::vector<const float*> narrow_rows;
  std::vector<std::int32_t> narrow_slots;
  int scratch_threads = 0;
  void reserve_scratch(int threads);  // sizes the per-thread buffers (run_kept_experts calls it)

 private:
  SoftMoeShape shape_;
};

// Work done, summed over inputs, in floating-point operations (a multiply-add counts 2).
struct WorkCount {
  double expert = 0;  // the experts' two layers
  double total = 0;   // router, dispatch, experts, combine
};

// Step 1: router logits and combine C for x [B, m, d] into ws, and the expert scores.
void route_batch(SelectionWorkspace& ws, const float* x, const SoftMoeTensors<float>& w, const SoftMoeShape& shape,
                 int B);

// Step 2: y [B, m, d_out] from the routed batch and ws.keep. Adds the work done to `work` if not null.
// Each kept expert runs once per engine thread on the thread's inputs that kept it: the dispatch weights
// of its slots (softmax over tokens), the slot inputs, the expert (one GEMM pair over the block) and the
// combine, only for kept slots. Narrow experts (h <= 8) run input by input instead: each input's tokens
// and outputs stay in cache while its kept experts run on them.
void run_kept_experts(float* y, SelectionWorkspace& ws, const float* x, const SoftMoeTensors<float>& w,
                      const SoftMoeShape& shape, int B, bool renormalize, WorkCount* work);

}  // namespace softmoe
