#pragma once
// The Soft MoE layer's parts, shared by softmoe.cpp (which runs the router and calls the experts) and
// their own files. Shapes: x, xe, y, dy [B, m, width]; dispatch, combine and their gradients [B, m, S].
// A block tensor holds one expert e's slot rows for the examples [b0, b1): row r = (b - b0) p + q, q < p,
// is slot s = e p + q of example b; it is [(b1 - b0) p, width].
#include "softmoe/layers/softmoe.hpp"

namespace softmoe::detail {

inline constexpr int kExpertGroup = 4;  // experts whose slot rows the mixing kernels handle together
inline constexpr int kWideHidden = 32;  // experts this wide are GEMM-bound: one example block per thread, and
                                        // backward multiplies by w1^T, w2^T directly (no transposed copies)

// Experts [e0, e0 + count), count <= kExpertGroup, over the examples [b0, b1).
struct Group {
  int e0, count;
  long b0, b1;
};

// What every mixing kernel needs: the shape, the group, and two rows of width max(d, d_out) used as
// padding at the edges (zero: all zeros, only read; spare: written, never read).
template <class T>
struct GroupArgs {
  const SoftMoeShape& shape;
  Group group;
  const T* zero;
  T* spare;
};

// softmoe_mixing.cpp. Block tensors hold expert e0 + g's rows at base + g * stride, each [rows, width].
// slot_in [count][rows, d]: slot_in[g][r] = sum_i D[b, i, s] xe[b, i]
template <class T>
void dispatch_group(T* slot_in, long stride, const T* dispatch, const T* xe, const GroupArgs<T>& args);
// y [B, m, d_out]: y[b, i] += sum_g C[b, i, s] slot_out[g][r]; the group of expert 0 overwrites y instead
template <class T>
void combine_group(T* y, const T* combine, const T* slot_out, long stride, const GroupArgs<T>& args);
// dslot_out[g][r] = sum_i C[b, i, s] dy[b, i];  dcombine[b, i, s] = dy[b, i] . slot_out[g][r]
template <class T>
void combine_backward_group(T* dslot_out, long dstride, T* dcombine, const T* dy, const T* combine, const T* slot_out,
                            long stride, const GroupArgs<T>& args);
// ddispatch[b, i, s] = xe[b, i] . dslot_in[g][r];  dxe[b, i] += sum_g D[b, i, s] dslot_in[g][r] (if dxe)
template <class T>
void dispatch_backward_group(T* ddispatch, T* dxe, const T* dslot_in, long stride, const T* dispatch, const T* xe,
                             const GroupArgs<T>& args);

// softmoe_experts.cpp: the expert part of each pass, split over examples.
// y [B, m, d_out] from act.dispatch, act.combine and xe [B, m, d]; fills act.hidden_pre, act.hidden (and
// act.slot_in, act.slot_out with store_slots).
template <class T>
void experts_forward(T* y, SoftMoeActivations<T>& act, const T* xe, const SoftMoeTensors<T>& w,
                     const SoftMoeShape& shape, int B);
// From dy [B, m, d_out]: act.dcombine, act.ddispatch, the expert parameters' gradients (accumulated) and,
// if dxe is not null, dxe [B, m, d] += D dslot_in.
template <class T>
void experts_backward(T* dxe, const SoftMoeTensors<T>& g, const T* dy, const T* xe, SoftMoeActivations<T>& act,
                      const SoftMoeTensors<T>& w, const SoftMoeShape& shape, int B);

}  // namespace softmoe::detail
