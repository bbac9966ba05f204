#pragma once
// The top-k path's parts, shared by softmoe_selected.cpp (routing, the grouped path for wide experts) and
// softmoe_selected_narrow.cpp (narrow experts, input by input).
#include <cstdint>

#include "softmoe/layers/softmoe.hpp"
#include "softmoe/layers/softmoe_selected.hpp"

namespace softmoe::detail {

// Experts up to this wide run input by input (softmoe_selected_narrow.cpp); wider ones as one GEMM pair per expert
// (measured: input by input is 1.3x faster at h = 6, 2x at h = 1, 1.2x slower at h = 12).
inline constexpr int kNarrowHidden = 8;

struct Dims {
  int m, d, n, p, S, h, d_out;
  explicit Dims(const SoftMoeShape& s)
      : m(s.tokens), d(s.dim), n(s.experts), p(s.slots), S(s.total_slots()), h(s.hidden), d_out(s.dim_out) {}
};

// inverse [m]: 1 / the combine weight each token puts on the input's kept slots, from its C [m, S] and
// keep [n]; 1 without renormalisation (C' = C inverse)
inline void inverse_kept_mass(float* inverse, const std::uint8_t* keep, const float* C, const Dims& z,
                              bool renormalize) {
  for (int i = 0; i < z.m; ++i) {
    float total = 1.0f;
    if (renormalize) {
      total = 0.0f;
      for (int sl = 0; sl < z.S; ++sl) total += keep[sl / z.p] ? C[static_cast<long>(i) * z.S + sl] : 0.0f;
    }
    inverse[i] = 1.0f / total;
  }
}

// asks for the cache lines of rows [count floats] that a coming iteration reads
inline void prefetch_rows(const float* rows, long count) {
  const char* at = reinterpret_cast<const char*>(rows);
  for (long byte = 0; byte < count * static_cast<long>(sizeof(float)); byte += 64) __builtin_prefetch(at + byte);
}

// softmoe_selected_narrow.cpp. Floats of one thread's ws.narrow_scratch (per thread, ws.narrow_rows also holds 2 S
// pointers and ws.narrow_slots S slot numbers).
std::size_t narrow_scratch_floats(const Dims& z);
// ws.w1_t, ws.w2_padded, ws.b2_padded from the expert weights (once per run_kept_experts call)
void pad_narrow_weights(SelectionWorkspace& ws, const SoftMoeTensors<float>& w, const Dims& z);
// y [b, m, d_out] for the inputs b in [b0, b1), narrow experts, with thread `thread`'s scratch
void run_narrow_inputs(float* y, SelectionWorkspace& ws, const float* xe, const SoftMoeTensors<float>& w,
                       const SoftMoeShape& shape, long b0, long b1, int thread, bool renormalize);

}  // namespace softmoe::detail
