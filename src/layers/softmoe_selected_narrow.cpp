// Top-k inference for narrow experts (h <= kNarrowHidden), input by input: the input's tokens (a
// zero-padded copy) stay in L1 while each kept slot's hidden units are computed against w1^T; then all
// kept slots' outputs are combined in registers, a block of tokens and columns at a time, and written
// once. The expert weights are read from cache once per (input, expert) pair, the tokens once per input.
#include <algorithm>

#include "softmoe_selected_parts.hpp"
#include "softmoe/kernels/narrow_expert.hpp"
#include "softmoe/kernels/parallel.hpp"
#include "softmoe/layers/activation.hpp"
#include "softmoe/layers/routing.hpp"

namespace softmoe::detail {
using kernels::narrow_combine;
using kernels::narrow_hidden;
using kernels::narrow_padded;
namespace {

// One thread's scratch, carved from ws.narrow_scratch and ws.narrow_rows.
struct NarrowScratch {
  float* tokens;        // [m, dp]  the input's tokens, zero-padded
  float* outputs;       // [m, dp_out]
  float* kept_logits;   // [m, T]  the logits of the input's T kept slots
  float* dispatch;      // [m, T]  their D
  float* slot_dispatch; // [m]  one slot's D
  float* inverse_kept;  // [m]  1 / the combine weight on kept slots
  float* combine;       // [S, m]  C' of the input's kept slots
  float* hidden;        // [S, h]
  const float** w2;     // [S]  each kept slot's expert's padded w2 [h, dp_out]
  const float** b2;     // [S]  and b2 [dp_out] (null without bias)
  std::int32_t* slot;   // [S]  the kept slots

  NarrowScratch(SelectionWorkspace& ws, const Dims& z, int thread) {
    tokens = ws.narrow_scratch.data() + thread * narrow_scratch_floats(z);
    outputs = tokens + static_cast<long>(z.m) * narrow_padded(z.d);
    kept_logits = outputs + static_cast<long>(z.m) * narrow_padded(z.d_out);
    dispatch = kept_logits + static_cast<long>(z.m) * z.S;
    slot_dispatch = dispatch + static_cast<long>(z.m) * z.S;
    inverse_kept = slot_dispatch + z.m;
    combine = inverse_kept + z.m;
    hidden = combine + static_cast<long>(z.S) * z.m;
    w2 = ws.narrow_rows.data() + static_cast<long>(thread) * 2 * z.S;
    b2 = w2 + z.S;
    slot = ws.narrow_slots.data() + static_cast<long>(thread) * z.S;
  }
};

}  // namespace

std::size_t narrow_scratch_floats(const Dims& z) {
  return static_cast<std::size_t>(z.m) * (narrow_padded(z.d) + narrow_padded(z.d_out) + 2) +
         static_cast<std::size_t>(z.S) * (3 * z.m + z.h);
}

void pad_narrow_weights(SelectionWorkspace& ws, const SoftMoeTensors<float>& w, const Dims& z) {
  const int dp = narrow_padded(z.d), dp_out = narrow_padded(z.d_out);
  kernels::parallel_for(z.n, 1, [&](long begin, long end) {
    for (long e = begin; e < end; ++e) {
      for (int j = 0; j < z.h; ++j) {
        float* row = ws.w1_t.data() + (e * z.h + j) * dp;
        for (int k = 0; k < z.d; ++k) row[k] = w.w1[(e * z.d + k) * z.h + j];
        std::fill(row + z.d, row + dp, 0.0f);
        float* out = ws.w2_padded.data() + (e * z.h + j) * dp_out;
        std::copy(w.w2 + (e * z.h + j) * z.d_out, w.w2 + (e * z.h + j + 1) * z.d_out, out);
        std::fill(out + z.d_out, out + dp_out, 0.0f);
      }
      if (w.b2) {
        float* bias = ws.b2_padded.data() + e * dp_out;
        std::copy(w.b2 + e * z.d_out, w.b2 + (e + 1) * z.d_out, bias);
        std::fill(bias + z.d_out, bias + dp_out, 0.0f);
      }
    }
  });
}

void run_narrow_inputs(float* y, SelectionWorkspace& ws, const float* xe, const SoftMoeTensors<float>& w,
                       const SoftMoeShape& shape, long b0, long b1, int thread, bool renormalize) {
  // y [b, m, d_out] = sum over the kept slots s of C'[b, i, s] f_e(sum_i D[b, i, s] xe[b, i]), b in [b0, b1)
  const Dims z(shape);
  const std::uint8_t* keep = ws.keep.data();
  const int dp = narrow_padded(z.d), dp_out = narrow_padded(z.d_out);
  NarrowScratch sc(ws, z, thread);
  std::fill(sc.tokens, sc.tokens + static_cast<long>(z.m) * dp, 0.0f);
  for (long b = b0; b < b1; ++b) {
    const float* L = ws.logits.data() + b * z.m * z.S;
    const float* C = ws.combine.data() + b * z.m * z.S;
    for (int i = 0; i < z.m; ++i)
      std::copy(xe + (b * z.m + i) * z.d, xe + (b * z.m + i + 1) * z.d, sc.tokens + static_cast<long>(i) * dp);
    if (b + 1 < b1) {  // the next input's tokens, logits and combine weights, while this one runs
      prefetch_rows(xe + (b + 1) * z.m * z.d, static_cast<long>(z.m) * z.d);
      prefetch_rows(L + z.m * z.S, static_cast<long>(z.m) * z.S);
      prefetch_rows(C + z.m * z.S, static_cast<long>(z.m) * z.S);
    }
    inverse_kept_mass(sc.inverse_kept, keep + b * z.n, C, z, renormalize);
    int slots = 0;  // D of the kept slots only: their logits side by side, one softmax over tokens
    const std::uint8_t* kept = keep + b * z.n;
    if (z.p == 1) {  // branch-free: every expert written, the kept ones advanced past
      for (int e = 0; e < z.n; ++e) {
        sc.slot[slots] = e;
        slots += kept[e] != 0;
      }
    } else {
      for (int e = 0; e < z.n; ++e)
        for (int q = 0; q < z.p && kept[e]; ++q) sc.slot[slots++] = e * z.p + q;
    }
    for (int i = 0; i < z.m; ++i)
      for (int t = 0; t < slots; ++t) sc.kept_logits[i * slots + t] = L[static_cast<long>(i) * z.S + sc.slot[t]];
    softmax_tokens_forward(sc.dispatch, sc.kept_logits, 1, z.m, slots);
    for (int t = 0; t < slots; ++t) {
      const int sl = sc.slot[t], e = sl / z.p;
      for (int i = 0; i < z.m; ++i) sc.slot_dispatch[i] = sc.dispatch[i * slots + t];
      const float* b1 = w.b1 ? w.b1 + static_cast<long>(e) * z.h : nullptr;
      narrow_hidden(sc.hidden + static_cast<long>(t) * z.h, sc.slot_dispatch, sc.tokens,
                    ws.w1_t.data() + static_cast<long>(e) * z.h * dp, b1, z.m, z.h, dp);
      for (int i = 0; i < z.m; ++i)
        sc.combine[static_cast<long>(t) * z.m + i] = C[static_cast<long>(i) * z.S + sl] * sc.inverse_kept[i];
      sc.w2[t] = ws.w2_padded.data() + static_cast<long>(e) * z.h * dp_out;
      sc.b2[t] = w.b2 ? ws.b2_padded.data() + static_cast<long>(e) * dp_out : nullptr;
    }
    activation_forward(sc.hidden, sc.hidden, static_cast<std::size_t>(slots) * z.h, shape.activation);
    narrow_combine(sc.outputs, sc.combine, sc.hidden, sc.w2, sc.b2, slots, z.h, z.m, dp_out);
    for (int i = 0; i < z.m; ++i)
      std::copy(sc.outputs + static_cast<long>(i) * dp_out, sc.outputs + static_cast<long>(i) * dp_out + z.d_out,
                y + (b * z.m + i) * z.d_out);
  }
}

}  // namespace softmoe::detail
