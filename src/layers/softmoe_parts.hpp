#pragma once
// The Soft MoE layer's parts, shared by softmoe.cpp (which runs the router and calls the experts) and
// their own files (the mixing kernels are in kernels/softmoe_mixing.hpp). Shapes: x, xe, y, dy [B, m, width]; dispatch, combine and their gradients [B, m, S].
// A block tensor holds one expert e's slot rows for the examples [b0, b1): row r = (b - b0) p + q, q < p,
// is slot s = e p + q of example b; it is [(b1 - b0) p, width].
#include "softmoe/kernels/softmoe_mixing.hpp"
#include "softmoe/layers/softmoe.hpp"

namespace softmoe::detail {

inline constexpr int kExpertGroup = kernels::kMixGroup;  // experts whose slot rows the mixing kernels handle together
inline constexpr int kWideHidden = 32;  // experts this wide are GEMM-bound: one example block per thread, and
                                        // backward multiplies by w1^T, w2^T directly (no transposed copies)

using Group = kernels::MixGroup;
template <class T>
using GroupArgs = kernels::MixArgs<T>;
using kernels::combine_backward_group;
using kernels::combine_group;
using kernels::dispatch_backward_group;
using kernels::dispatch_group;

inline kernels::MixShape mix_shape(const SoftMoeShape& s) {
  return {s.tokens, s.slots, s.total_slots(), s.dim, s.dim_out};
}

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
