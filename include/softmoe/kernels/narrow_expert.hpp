#pragma once
// Narrow experts (hidden width h of a few units) on one input, in SIMD registers: the top-k path runs
// these input by input, so the input's tokens and outputs stay in registers or L1 across its kept experts.
// Widths are padded with zeros to a multiple of the SIMD width (narrow_padded), so no loop has a tail.

namespace softmoe::kernels {

// width rounded up to a whole number of SIMD registers of floats
int narrow_padded(int width);

// One slot: hidden [h] = w1_t [h, dp] (sum_i weight[i] x[i]) + b1 [h], x [m, dp]; b1 may be null
// and w1_t is the expert's w1 transposed.
void narrow_hidden(float* hidden, const float* weight, const float* x, const float* w1_t, const float* b1, int m,
                   int h, int dp);

// The input's kept slots t < slots: out [m, dp_out] = sum_t weight[t m + i] (hidden [t h ...] w2[t] + b2[t])
// for each token i, with w2[t] [h, dp_out] and b2[t] [dp_out] (null: no bias) the slot's expert's.
void narrow_combine(float* out, const float* weight, const float* hidden, const float* const* w2,
                    const float* const* b2, int slots, int h, int m, int dp_out);

}  // namespace softmoe::kernels
