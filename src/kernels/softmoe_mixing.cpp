// Dispatch and combine of the Soft MoE layer over a group of up to 4 experts and a range of examples,
// with their backward passes. Per example, the kernels take up to 4 experts' slot rows (a compile-time
// count) and 4 tokens at a time, so each token row is read once per group of experts rather than once
// per expert; missing tokens (when m is not a multiple of 4) are padded with zero weights, a zero row
// and a scratch row.

// GCC 12's AVX-512 intrinsics trip -Wmaybe-uninitialized on their own _mm512_undefined_* (GCC bug 105593);
// the pragma must enclose the whole file, as the warning is issued where the intrinsics are inlined.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <algorithm>
#include <cmath>
#include <type_traits>

#include <xsimd/xsimd.hpp>

#include "softmoe/kernels/softmoe_mixing.hpp"

namespace softmoe::kernels {
namespace {

constexpr int G = kMixGroup;  // experts, and tokens, per kernel call

template <class T>
using Batch = xsimd::batch<T>;

// dst[g][k] = (accumulate ? dst[g][k] : 0) + sum_i w[g][i] x[i][k]   (k < width)
template <int NG, class T>
void mix_tokens(T* const* dst, const T (*w)[G], const T* const* x, int width, bool accumulate) {
  using B = Batch<T>;
  constexpr int W = static_cast<int>(B::size);
  int k = 0;
  for (; k + W <= width; k += W) {
    const B x0 = B::load_unaligned(x[0] + k), x1 = B::load_unaligned(x[1] + k), x2 = B::load_unaligned(x[2] + k),
            x3 = B::load_unaligned(x[3] + k);
    for (int g = 0; g < NG; ++g) {
      B acc = accumulate ? B::load_unaligned(dst[g] + k) : B(T(0));
      acc = xsimd::fma(B(w[g][0]), x0, acc);
      acc = xsimd::fma(B(w[g][1]), x1, acc);
      acc = xsimd::fma(B(w[g][2]), x2, acc);
      acc = xsimd::fma(B(w[g][3]), x3, acc);
      acc.store_unaligned(dst[g] + k);
    }
  }
  for (; k < width; ++k)
    for (int g = 0; g < NG; ++g) {
      T acc = accumulate ? dst[g][k] : T(0);
      for (int i = 0; i < G; ++i) acc = std::fma(w[g][i], x[i][k], acc);
      dst[g][k] = acc;
    }
}

// y[i][k] = (accumulate ? y[i][k] : 0) + sum_g c[g][i] src[g][k]
template <int NG, class T>
void mix_slots(T* const* y, const T (*c)[G], const T* const* src, int width, bool accumulate) {
  using B = Batch<T>;
  constexpr int W = static_cast<int>(B::size);
  int k = 0;
  for (; k + W <= width; k += W) {
    B sv[NG];
    for (int g = 0; g < NG; ++g) sv[g] = B::load_unaligned(src[g] + k);
    for (int i = 0; i < G; ++i) {
      B acc = accumulate ? B::load_unaligned(y[i] + k) : B(T(0));
      for (int g = 0; g < NG; ++g) acc = xsimd::fma(B(c[g][i]), sv[g], acc);
      acc.store_unaligned(y[i] + k);
    }
  }
  for (; k < width; ++k)
    for (int i = 0; i < G; ++i) {
      T acc = accumulate ? y[i][k] : T(0);
      for (int g = 0; g < NG; ++g) acc = std::fma(c[g][i], src[g][k], acc);
      y[i][k] = acc;
    }
}

// dst[g][k] = (accumulate ? dst[g][k] : 0) + sum_i c[g][i] dy[i][k];  dots[g][i] = dy[i] . rows[g]
template <int NG, class T>
void mix_tokens_and_dot(T* const* dst, T (*dots)[G], const T (*c)[G], const T* const* dy, const T* const* rows,
                        int width, bool accumulate) {
  using B = Batch<T>;
  constexpr int W = static_cast<int>(B::size);
  B acc[NG][G];
  for (auto& row : acc)
    for (auto& a : row) a = B(T(0));
  int k = 0;
  for (; k + W <= width; k += W) {
    const B d0 = B::load_unaligned(dy[0] + k), d1 = B::load_unaligned(dy[1] + k), d2 = B::load_unaligned(dy[2] + k),
            d3 = B::load_unaligned(dy[3] + k);
    for (int g = 0; g < NG; ++g) {
      const B r = B::load_unaligned(rows[g] + k);
      B sum = accumulate ? B::load_unaligned(dst[g] + k) : B(T(0));
      sum = xsimd::fma(B(c[g][0]), d0, sum);
      sum = xsimd::fma(B(c[g][1]), d1, sum);
      sum = xsimd::fma(B(c[g][2]), d2, sum);
      sum = xsimd::fma(B(c[g][3]), d3, sum);
      sum.store_unaligned(dst[g] + k);
      acc[g][0] = xsimd::fma(d0, r, acc[g][0]);
      acc[g][1] = xsimd::fma(d1, r, acc[g][1]);
      acc[g][2] = xsimd::fma(d2, r, acc[g][2]);
      acc[g][3] = xsimd::fma(d3, r, acc[g][3]);
    }
  }
  for (int g = 0; g < NG; ++g)
    for (int i = 0; i < G; ++i) dots[g][i] = xsimd::hadd(acc[g][i]);
  for (; k < width; ++k)
    for (int g = 0; g < NG; ++g) {
      T sum = accumulate ? dst[g][k] : T(0);
      for (int i = 0; i < G; ++i) {
        sum = std::fma(c[g][i], dy[i][k], sum);
        dots[g][i] = std::fma(dy[i][k], rows[g][k], dots[g][i]);
      }
      dst[g][k] = sum;
    }
}

// dots[g][i] = x[i] . rows[g];  when dx: dx[i][k] += sum_g w[g][i] rows[g][k]
template <int NG, class T>
void dot_and_mix_slots(T (*dots)[G], T* const* dx, const T (*w)[G], const T* const* x, const T* const* rows,
                       int width) {
  using B = Batch<T>;
  constexpr int W = static_cast<int>(B::size);
  B acc[NG][G];
  for (auto& row : acc)
    for (auto& a : row) a = B(T(0));
  int k = 0;
  for (; k + W <= width; k += W) {
    B r[NG];
    for (int g = 0; g < NG; ++g) r[g] = B::load_unaligned(rows[g] + k);
    for (int i = 0; i < G; ++i) {
      const B xi = B::load_unaligned(x[i] + k);
      for (int g = 0; g < NG; ++g) acc[g][i] = xsimd::fma(xi, r[g], acc[g][i]);
    }
    if (dx)
      for (int i = 0; i < G; ++i) {
        B sum = B::load_unaligned(dx[i] + k);
        for (int g = 0; g < NG; ++g) sum = xsimd::fma(B(w[g][i]), r[g], sum);
        sum.store_unaligned(dx[i] + k);
      }
  }
  for (int g = 0; g < NG; ++g)
    for (int i = 0; i < G; ++i) dots[g][i] = xsimd::hadd(acc[g][i]);
  for (; k < width; ++k)
    for (int i = 0; i < G; ++i) {
      for (int g = 0; g < NG; ++g) dots[g][i] = std::fma(x[i][k], rows[g][k], dots[g][i]);
      if (dx)
        for (int g = 0; g < NG; ++g) dx[i][k] = std::fma(w[g][i], rows[g][k], dx[i][k]);
    }
}

// The pointers and weights of one kernel call: experts [e0, e0 + count) of `group`, slot q of example b,
// tokens [i0, i0 + G) (real ones up to m). Padding: zero weights, `zero` rows read, `spare` rows written.
template <class T>
struct Call {
  T* slot[G];          // the group's rows r = (b - b0) p + q of one block tensor
  const T* token[G];   // rows of a [B, m, width] tensor
  T* token_out[G];     // the same rows, writable (or spare)
  T weight[G][G];      // [expert][token]: dispatch or combine weights, 0 for padding
  int tokens;          // real tokens in this call

  Call(const MixArgs<T>& a, const T* weights, T* slot_base, long slot_stride, const T* tokens_in, T* tokens_out,
       long b, int q, int i0, int width) {
    const MixShape& s = a.shape;
    const long r = (b - a.group.b0) * s.slots + q;
    tokens = std::min(G, s.tokens - i0);
    for (int g = 0; g < G; ++g) {
      const bool real = g < a.group.count;
      slot[g] = real ? slot_base + g * slot_stride + r * width : a.spare;
      const int sl = (a.group.e0 + g) * s.slots + q;
      for (int i = 0; i < G; ++i)
        weight[g][i] = real && i < tokens ? weights[(b * s.tokens + i0 + i) * s.total_slots + sl] : T(0);
    }
    for (int i = 0; i < G; ++i) {
      const long row = (b * s.tokens + i0 + i) * width;
      token[i] = i < tokens ? tokens_in + row : a.zero;
      token_out[i] = i < tokens && tokens_out ? tokens_out + row : (tokens_out ? a.spare : nullptr);
    }
  }
};

// f(std::integral_constant<int, count>) for the group's count of experts, so kernels skip missing ones
template <class F>
void by_count(int count, F&& f) {
  switch (count) {
    case 1: f(std::integral_constant<int, 1>{}); break;
    case 2: f(std::integral_constant<int, 2>{}); break;
    case 3: f(std::integral_constant<int, 3>{}); break;
    default: f(std::integral_constant<int, 4>{}); break;
  }
}

// f(b, q, i0) over the group's examples, slots of one expert, and token groups
template <class T, class F>
void for_each_call(const MixArgs<T>& a, F&& f) {
  for (long b = a.group.b0; b < a.group.b1; ++b)
    for (int q = 0; q < a.shape.slots; ++q)
      for (int i0 = 0; i0 < a.shape.tokens; i0 += G) f(b, q, i0);
}

}  // namespace

template <class T>
void dispatch_group(T* slot_in, long stride, const T* dispatch, const T* xe, const MixArgs<T>& a) {
  // slot_in [count][rows, d]: slot_in[g][r] = sum_i D[b, i, s] xe[b, i]
  const int d = a.shape.dim;
  by_count(a.group.count, [&](auto count) {
    for_each_call(a, [&](long b, int q, int i0) {
      const Call<T> call(a, dispatch, slot_in, stride, xe, nullptr, b, q, i0, d);
      mix_tokens<decltype(count)::value>(call.slot, call.weight, call.token, d, i0 > 0);
    });
  });
}

template <class T>
void combine_group(T* y, const T* combine, const T* slot_out, long stride, const MixArgs<T>& a) {
  // y [B, m, d_out]: y[b, i] += sum_g C[b, i, s] slot_out[g][r] (the first slot overwrites y)
  const int d_out = a.shape.dim_out;
  by_count(a.group.count, [&](auto count) {
    for_each_call(a, [&](long b, int q, int i0) {
      const Call<T> call(a, combine, const_cast<T*>(slot_out), stride, y, y, b, q, i0, d_out);
      mix_slots<decltype(count)::value>(call.token_out, call.weight, call.slot, d_out, a.group.e0 > 0 || q > 0);
    });
  });
}

template <class T>
void combine_backward_group(T* dslot_out, long dstride, T* dcombine, const T* dy, const T* combine, const T* slot_out,
                            long stride, const MixArgs<T>& a) {
  // dslot_out[g][r] = sum_i C[b, i, s] dy[b, i];  dcombine[b, i, s] = dy[b, i] . slot_out[g][r]
  const MixShape& s = a.shape;
  const int d_out = s.dim_out;
  by_count(a.group.count, [&](auto count) {
    for_each_call(a, [&](long b, int q, int i0) {
      const Call<T> call(a, combine, dslot_out, dstride, dy, nullptr, b, q, i0, d_out);
      const Call<T> outs(a, combine, const_cast<T*>(slot_out), stride, dy, nullptr, b, q, i0, d_out);
      T dots[G][G] = {};
      mix_tokens_and_dot<decltype(count)::value>(call.slot, dots, call.weight, call.token, outs.slot, d_out, i0 > 0);
      for (int g = 0; g < a.group.count; ++g)
        for (int i = 0; i < call.tokens; ++i)
          dcombine[(b * s.tokens + i0 + i) * s.total_slots + (a.group.e0 + g) * s.slots + q] = dots[g][i];
    });
  });
}

template <class T>
void dispatch_backward_group(T* ddispatch, T* dxe, const T* dslot_in, long stride, const T* dispatch, const T* xe,
                             const MixArgs<T>& a) {
  // ddispatch[b, i, s] = xe[b, i] . dslot_in[g][r];  dxe[b, i] += sum_g D[b, i, s] dslot_in[g][r] (if dxe)
  const MixShape& s = a.shape;
  const int d = s.dim;
  by_count(a.group.count, [&](auto count) {
    for_each_call(a, [&](long b, int q, int i0) {
      const Call<T> call(a, dispatch, const_cast<T*>(dslot_in), stride, xe, dxe, b, q, i0, d);
      T dots[G][G] = {};
      dot_and_mix_slots<decltype(count)::value>(dots, dxe ? call.token_out : nullptr, call.weight, call.token,
                                                call.slot, d);
      for (int g = 0; g < a.group.count; ++g)
        for (int i = 0; i < call.tokens; ++i)
          ddispatch[(b * s.tokens + i0 + i) * s.total_slots + (a.group.e0 + g) * s.slots + q] = dots[g][i];
    });
  });
}

#define SOFTMOE_INSTANTIATE_MIXING(T)                                                                             \
  template void dispatch_group<T>(T*, long, const T*, const T*, const MixArgs<T>&);                             \
  template void combine_group<T>(T*, const T*, const T*, long, const MixArgs<T>&);                              \
  template void combine_backward_group<T>(T*, long, T*, const T*, const T*, const T*, long, const MixArgs<T>&); \
  template void dispatch_backward_group<T>(T*, T*, const T*, long, const T*, const T*, const MixArgs<T>&);
SOFTMOE_INSTANTIATE_MIXING(float)
SOFTMOE_INSTANTIATE_MIXING(double)

}  // namespace softmoe::kernels

#pragma GCC diagnostic pop
