#pragma once
// Dispatch and combine of a Soft MoE layer over a group of up to kMixGroup experts and a range of
// examples, with their backward passes (src/kernels/softmoe_mixing.cpp). Shapes, per example b:
// tokens xe, y, dy [B, m, width]; dispatch, combine and their gradients [B, m, S] with S = n p.
// A block tensor holds one expert e's slot rows for the examples [b0, b1): row r = (b - b0) p + q, q < p,
// is slot s = e p + q of example b; it is [(b1 - b0) p, width]. The group's experts e0 + g have their
// block tensors at base + g * stride.
namespace softmoe::kernels {

inline constexpr int kMixGroup = 4;  // experts whose slot rows one kernel call handles together

struct MixShape {
  int tokens;       // m
  int slots;        // p, slots per expert
  int total_slots;  // S
  int dim, dim_out; // d, d_out
};

// Experts [e0, e0 + count), count <= kMixGroup, over the examples [b0, b1).
struct MixGroup {
  int e0, count;
  long b0, b1;
};

// The shape, the group, and two rows of width max(d, d_out) used as padding at the edges (zero: all
// zeros, only read; spare: written, never read).
template <class T>
struct MixArgs {
  MixShape shape;
  MixGroup group;
  const T* zero;
  T* spare;
};

// slot_in [count][rows, d]: slot_in[g][r] = sum_i D[b, i, s] xe[b, i]
template <class T>
void dispatch_group(T* slot_in, long stride, const T* dispatch, const T* xe, const MixArgs<T>& args);
// y [B, m, d_out]: y[b, i] += sum_g C[b, i, s] slot_out[g][r]; the group of expert 0 overwrites y instead
template <class T>
void combine_group(T* y, const T* combine, const T* slot_out, long stride, const MixArgs<T>& args);
// dslot_out[g][r] = sum_i C[b, i, s] dy[b, i];  dcombine[b, i, s] = dy[b, i] . slot_out[g][r]
template <class T>
void combine_backward_group(T* dslot_out, long dstride, T* dcombine, const T* dy, const T* combine, const T* slot_out,
                            long stride, const MixArgs<T>& args);
// ddispatch[b, i, s] = xe[b, i] . dslot_in[g][r];  dxe[b, i] += sum_g D[b, i, s] dslot_in[g][r] (if dxe)
template <class T>
void dispatch_backward_group(T* ddispatch, T* dxe, const T* dslot_in, long stride, const T* dispatch, const T* xe,
                             const MixArgs<T>& args);

}  // namespace softmoe::kernels
