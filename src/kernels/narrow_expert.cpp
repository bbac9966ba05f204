// The narrow-expert kernels of the top-k path (narrow_expert.hpp), with xsimd.
#include "softmoe/kernels/narrow_expert.hpp"

#include <xsimd/xsimd.hpp>

namespace softmoe::kernels {
namespace {

using V = xsimd::batch<float>;
constexpr int W = static_cast<int>(V::size);

// hidden[r] += rows[r] . (sum_i weight[i] x[i]) for R rows dp apart. Each row sums in P registers
// (chunks taken in turn, leftover chunks into the first), so at least three independent FMA chains
// hide the FMA latency. M > 0: m is M, known at compile time (the token loop unrolled; 1.3x faster at
// h = 1), M = 0: any m.
template <int R, int M>
void hidden_rows(float* hidden, const float* weight, const float* x, const float* rows, int runtime_m, int dp) {
  const int m = M > 0 ? M : runtime_m;
  constexpr int P = R >= 4 ? 1 : 4 / R;
  V acc[R][P];
  for (int r = 0; r < R; ++r)
    for (int q = 0; q < P; ++q) acc[r][q] = V(0.0f);
  // acc[r][q] += rows[r][chunk] * (sum_i weight[i] x[i][chunk]) for the chunk at column k
  auto step = [&](int k, int q) {
    V slot = V(weight[0]) * V::load_unaligned(x + k);
    for (int i = 1; i < m; ++i)
      slot = xsimd::fma(V(weight[i]), V::load_unaligned(x + static_cast<long>(i) * dp + k), slot);
    for (int r = 0; r < R; ++r)
      acc[r][q] = xsimd::fma(V::load_unaligned(rows + static_cast<long>(r) * dp + k), slot, acc[r][q]);
  };
  int k = 0;
  for (; k + P * W <= dp; k += P * W)
    for (int q = 0; q < P; ++q) step(k + q * W, q);
  for (; k < dp; k += W) step(k, 0);
  for (int r = 0; r < R; ++r) {
    for (int q = 1; q < P; ++q) acc[r][0] += acc[r][q];
    hidden[r] += xsimd::hadd(acc[r][0]);
  }
}

// out [M tokens, C chunks from column k] = sum_t weight[t m + i] (hidden[t] w2[t] + b2[t]), in registers
template <int M, int C>
void combine_block(float* out, const float* weight, const float* hidden, const float* const* w2,
                   const float* const* b2, int slots, int h, int m, int dp_out, int k) {
  V acc[M][C];
  for (int i = 0; i < M; ++i)
    for (int c = 0; c < C; ++c) acc[i][c] = V(0.0f);
  for (int t = 0; t < slots; ++t) {
    V slot_out[C];
    for (int c = 0; c < C; ++c) slot_out[c] = b2[t] ? V::load_unaligned(b2[t] + k + c * W) : V(0.0f);
    const float* hid = hidden + static_cast<long>(t) * h;
    for (int j = 0; j < h; ++j) {
      const V hj(hid[j]);
      const float* row = w2[t] + static_cast<long>(j) * dp_out + k;
      for (int c = 0; c < C; ++c) slot_out[c] = xsimd::fma(hj, V::load_unaligned(row + c * W), slot_out[c]);
    }
    for (int i = 0; i < M; ++i) {
      const V c_i(weight[static_cast<long>(t) * m + i]);
      for (int c = 0; c < C; ++c) acc[i][c] = xsimd::fma(c_i, slot_out[c], acc[i][c]);
    }
  }
  for (int i = 0; i < M; ++i)
    for (int c = 0; c < C; ++c) acc[i][c].store_unaligned(out + static_cast<long>(i) * dp_out + k + c * W);
}

template <int M>
void combine_tokens(float* out, const float* weight, const float* hidden, const float* const* w2,
                    const float* const* b2, int slots, int h, int m, int dp_out) {
  int k = 0;
  for (; k + 4 * W <= dp_out; k += 4 * W) combine_block<M, 4>(out, weight, hidden, w2, b2, slots, h, m, dp_out, k);
  for (; k < dp_out; k += W) combine_block<M, 1>(out, weight, hidden, w2, b2, slots, h, m, dp_out, k);
}

}  // namespace

int narrow_padded(int width) { return (width + W - 1) / W * W; }

namespace {

template <int M>
void hidden_blocks(float* hidden, const float* weight, const float* x, const float* w1_t, int m, int h, int dp) {
  for (int j = 0; j < h; j += 8) {
    const float* rows = w1_t + static_cast<long>(j) * dp;
    switch (h - j < 8 ? h - j : 8) {
      case 8: hidden_rows<8, M>(hidden + j, weight, x, rows, m, dp); break;
      case 7: hidden_rows<7, M>(hidden + j, weight, x, rows, m, dp); break;
      case 6: hidden_rows<6, M>(hidden + j, weight, x, rows, m, dp); break;
      case 5: hidden_rows<5, M>(hidden + j, weight, x, rows, m, dp); break;
      case 4: hidden_rows<4, M>(hidden + j, weight, x, rows, m, dp); break;
      case 3: hidden_rows<3, M>(hidden + j, weight, x, rows, m, dp); break;
      case 2: hidden_rows<2, M>(hidden + j, weight, x, rows, m, dp); break;
      default: hidden_rows<1, M>(hidden + j, weight, x, rows, m, dp); break;
    }
  }
}

}  // namespace

void narrow_hidden(float* hidden, const float* weight, const float* x, const float* w1_t, const float* b1, int m,
                   int h, int dp) {
  for (int j = 0; j < h; ++j) hidden[j] = b1 ? b1[j] : 0.0f;
  if (m == 4)  // the paper's MNIST model
    hidden_blocks<4>(hidden, weight, x, w1_t, m, h, dp);
  else
    hidden_blocks<0>(hidden, weight, x, w1_t, m, h, dp);
}

void narrow_combine(float* out, const float* weight, const float* hidden, const float* const* w2,
                    const float* const* b2, int slots, int h, int m, int dp_out) {
  for (int i = 0; i < m; i += 4) {  // four tokens at a time: 4 x 4 registers of sums
    float* rows = out + static_cast<long>(i) * dp_out;
    const float* w = weight + i;
    switch (m - i < 4 ? m - i : 4) {
      case 4: combine_tokens<4>(rows, w, hidden, w2, b2, slots, h, m, dp_out); break;
      case 3: combine_tokens<3>(rows, w, hidden, w2, b2, slots, h, m, dp_out); break;
      case 2: combine_tokens<2>(rows, w, hidden, w2, b2, slots, h, m, dp_out); break;
      default: combine_tokens<1>(rows, w, hidden, w2, b2, slots, h, m, dp_out); break;
    }
  }
}

}  // namespace softmoe::kernels
