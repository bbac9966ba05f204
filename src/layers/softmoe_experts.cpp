// The experts of the Soft MoE layer. Each thread takes a contiguous range of the batch's examples in
// blocks small enough to stay in cache (the block's tokens, their outputs or output gradients, and four
// experts' slot rows), and for each block runs the experts four at a time: dispatch the group's slots,
// one GEMM pair per expert, combine (forward); recompute the slot inputs and outputs, combine backward,
// four GEMMs per expert, dispatch backward (backward). GEMMs run single-threaded on their thread.
// Expert gradients of threads 1.. go to private buffers, added to the caller's in thread order.
#include <algorithm>

#include "softmoe/kernels/gemm.hpp"
#include "softmoe/kernels/parallel.hpp"
#include "softmoe/kernels/vector_ops.hpp"
#include "softmoe_parts.hpp"

namespace softmoe::detail {
namespace {

using kernels::gemm;
using kernels::Trans;

constexpr long kBlockBytes = 640 * 1024;  // cache budget of one block's tokens and slot rows
constexpr int kKeepHidden = 16;           // from this width, keeping slot_out beats recomputing it

// Examples per block: all of a thread's examples for wide experts, else what fits kBlockBytes.
template <class T>
long examples_per_block(const SoftMoeShape& s) {
  if (s.hidden >= kWideHidden) return 1L << 30;
  const long per_example =
      static_cast<long>(sizeof(T)) * (s.tokens + 2L * kExpertGroup * s.slots) * (s.dim + s.dim_out);
  return std::max(8L, kBlockBytes / per_example);
}

template <class T>
void fill_rows(T* out, const T* row, long rows, int width) {
  for (long r = 0; r < rows; ++r) std::copy(row, row + width, out + r * width);
}

template <class T>
void add_column_sums(T* sums, const T* in, long rows, int width) {
  for (long r = 0; r < rows; ++r) kernels::axpy(sums, T(1), in + r * width, width);
}

// f(group) for each block of thread t's examples and each group of experts, blocks outer.
template <class F>
void for_my_groups(const SoftMoeShape& s, int B, long per_block, int thread, F&& f) {
  const kernels::Range mine = kernels::split(B, thread, kernels::threads());
  for (long b0 = mine.begin; b0 < mine.end; b0 += per_block) {
    const long b1 = std::min(mine.end, b0 + per_block);
    for (int e0 = 0; e0 < s.experts; e0 += kExpertGroup) f(Group{e0, std::min(kExpertGroup, s.experts - e0), b0, b1});
  }
}

// Thread t's expert gradients: the caller's for t = 0, else its private slice of act.dexperts.
template <class T>
SoftMoeTensors<T> thread_grads(const SoftMoeTensors<T>& g, SoftMoeActivations<T>& act, const SoftMoeShape& s,
                               int thread) {
  if (thread == 0) return g;
  const long n = s.experts, d = s.dim, h = s.hidden, d_out = s.dim_out;
  const long size = n * (d * h + h * d_out + (s.expert_bias ? h + d_out : 0));
  T* at = act.dexperts.data() + (thread - 1) * size;
  SoftMoeTensors<T> mine{};
  mine.w1 = at;
  mine.w2 = at + n * d * h;
  if (s.expert_bias) {
    mine.b1 = mine.w2 + n * h * d_out;
    mine.b2 = mine.b1 + n * h;
  }
  return mine;
}

template <class T>
void add_into(T* sum, const T* part, long count) {
  kernels::parallel_for(count, 1 << 14, [&](long begin, long end) { kernels::axpy(sum + begin, T(1), part + begin, end - begin); });
}

// One thread's scratch: the group's block tensors (expert g at base + g * stride), hidden gradients, edges.
template <class T>
struct Scratch {
  long stride_in, stride_out;  // elements between two experts' blocks, d- and d_out-wide
  T *in, *out, *dout, *din, *dhid, *dpre;
  GroupArgs<T> args;

  Scratch(SoftMoeActivations<T>& act, const SoftMoeShape& s, int thread, Group group)
      : args{mix_shape(s), group, nullptr, nullptr} {
    const long rows = static_cast<long>(act.max_batch) * s.slots, edge = std::max(s.dim, s.dim_out);
    stride_in = rows * s.dim;
    stride_out = rows * s.dim_out;
    in = act.block_in.data() + thread * kExpertGroup * stride_in;
    din = act.dslot_in.data() + thread * kExpertGroup * stride_in;
    out = act.block_out.data() + thread * kExpertGroup * stride_out;
    dout = act.dslot_out.data() + thread * kExpertGroup * stride_out;
    dhid = act.dhidden.data() + thread * rows * s.hidden;
    dpre = act.dhidden_pre.data() + thread * rows * s.hidden;
    args.zero = act.edge_rows.data() + thread * 2 * edge;
    args.spare = act.edge_rows.data() + (thread * 2 + 1) * edge;
  }
};

}  // namespace

template <class T>
void experts_forward(T* y, SoftMoeActivations<T>& act, const T* xe, const SoftMoeTensors<T>& w, const SoftMoeShape& s,
                     int B) {
  // per expert e of a group, over a block: slot_in [rows, d] = dispatch; hidden_pre = slot_in w1[e] + b1[e],
  // hidden = act(hidden_pre) [rows, h]; slot_out [rows, d_out] = hidden w2[e] + b2[e]; y [B, m, d_out] += combine
  const int d = s.dim, p = s.slots, h = s.hidden, d_out = s.dim_out;
  act.reserve_scratch(kernels::threads());
  const long per_block = examples_per_block<T>(s);
  act.kept_slot_in = act.store_slots;
  act.kept_slot_out = act.store_slots || h >= kKeepHidden;
  const long full_in = static_cast<long>(B) * p * d, full_out = static_cast<long>(B) * p * d_out;
  kernels::parallel([&](int thread) {
    for_my_groups(s, B, per_block, thread, [&](Group group) {
      Scratch<T> sc(act, s, thread, group);
      const long rows = (group.b1 - group.b0) * p, first = (static_cast<long>(group.e0) * B + group.b0) * p;
      // kept slot tensors: the group's blocks are rows of act.slot_in / slot_out, B p rows apart per expert
      T* in = act.kept_slot_in ? act.slot_in.data() + first * d : sc.in;
      T* out = act.kept_slot_out ? act.slot_out.data() + first * d_out : sc.out;
      const long stride_in = act.kept_slot_in ? full_in : sc.stride_in;
      const long stride_out = act.kept_slot_out ? full_out : sc.stride_out;
      dispatch_group(in, stride_in, act.dispatch.data(), xe, sc.args);
      for (int g = 0; g < group.count; ++g) {
        const int e = group.e0 + g;
        const long at = (static_cast<long>(e) * B + group.b0) * p;
        T* pre = act.hidden_pre.data() + at * h;
        T* hid = act.hidden.data() + at * h;
        T* o = out + g * stride_out;
        if (w.b1) fill_rows(pre, w.b1 + static_cast<long>(e) * h, rows, h);
        gemm(Trans::no, Trans::no, static_cast<int>(rows), h, d, T(1), in + g * stride_in, d,
             w.w1 + static_cast<long>(e) * d * h, h, T(w.b1 ? 1 : 0), pre, h);
        activation_forward(hid, pre, static_cast<std::size_t>(rows) * h, s.activation);
        if (w.b2) fill_rows(o, w.b2 + static_cast<long>(e) * d_out, rows, d_out);
        gemm(Trans::no, Trans::no, static_cast<int>(rows), d_out, h, T(1), hid, h,
             w.w2 + static_cast<long>(e) * h * d_out, d_out, T(w.b2 ? 1 : 0), o, d_out);
      }
      combine_group(y, act.combine.data(), out, stride_out, sc.args);
    });
  });
}

template <class T>
void experts_backward(T* dxe, const SoftMoeTensors<T>& g, const T* dy, const T* xe, SoftMoeActivations<T>& act,
                      const SoftMoeTensors<T>& w, const SoftMoeShape& s, int B) {
  // per expert e of a group, over a block of rows: slot_in [rows, d] and slot_out [rows, d_out] recomputed
  //   as in forward; dslot_out [rows, d_out] = combine backward; dw2[e] += hidden^T dslot_out, db2[e];
  //   dhidden = dslot_out w2[e]^T; dhidden_pre = dhidden * act'(hidden_pre) [rows, h];
  //   dw1[e] += slot_in^T dhidden_pre, db1[e]; dslot_in = dhidden_pre w1[e]^T [rows, d]; dispatch backward.
  //   For small h, w1^T and w2^T come from transposed copies: OpenBLAS's untransposed small GEMMs are faster.
  const int d = s.dim, p = s.slots, h = s.hidden, d_out = s.dim_out;
  const int threads = kernels::threads();
  act.reserve_scratch(threads);
  const long per_block = examples_per_block<T>(s);
  const long full_in = static_cast<long>(B) * p * d, full_out = static_cast<long>(B) * p * d_out;
  const long n = s.experts, expert_params = n * (d * h + h * d_out + (s.expert_bias ? h + d_out : 0));
  const bool transposed = h < kWideHidden;  // small h: untransposed GEMMs on transposed weight copies
  if (transposed)
    kernels::parallel_for(n, 1, [&](long begin, long end) {  // w1_t[e] = w1[e]^T [h, d], w2_t[e] = w2[e]^T [d_out, h]
      for (long e = begin; e < end; ++e) {
        for (int k = 0; k < d; ++k)
          for (int j = 0; j < h; ++j) act.w1_t[(e * h + j) * d + k] = w.w1[(e * d + k) * h + j];
        for (int j = 0; j < h; ++j)
          for (int k = 0; k < d_out; ++k) act.w2_t[(e * d_out + k) * h + j] = w.w2[(e * h + j) * d_out + k];
      }
    });
  kernels::parallel([&](int thread) {
    const SoftMoeTensors<T> gt = thread_grads(g, act, s, thread);
    if (thread > 0) std::fill(gt.w1, gt.w1 + expert_params, T(0));
    for_my_groups(s, B, per_block, thread, [&](Group group) {
      Scratch<T> sc(act, s, thread, group);
      const int rows = static_cast<int>((group.b1 - group.b0) * p);
      const long first = (static_cast<long>(group.e0) * B + group.b0) * p;
      const T* in = act.kept_slot_in ? act.slot_in.data() + first * d : sc.in;
      const T* out = act.kept_slot_out ? act.slot_out.data() + first * d_out : sc.out;
      const long stride_in = act.kept_slot_in ? full_in : sc.stride_in;
      const long stride_out = act.kept_slot_out ? full_out : sc.stride_out;
      if (!act.kept_slot_in) dispatch_group(sc.in, sc.stride_in, act.dispatch.data(), xe, sc.args);
      for (int k = 0; !act.kept_slot_out && k < group.count; ++k) {
        const int e = group.e0 + k;
        const T* hid = act.hidden.data() + (static_cast<long>(e) * B + group.b0) * p * h;
        T* o = sc.out + k * sc.stride_out;
        if (w.b2) fill_rows(o, w.b2 + static_cast<long>(e) * d_out, rows, d_out);
        gemm(Trans::no, Trans::no, rows, d_out, h, T(1), hid, h, w.w2 + static_cast<long>(e) * h * d_out, d_out,
             T(w.b2 ? 1 : 0), o, d_out);
      }
      combine_backward_group(sc.dout, sc.stride_out, act.dcombine.data(), dy, act.combine.data(), out, stride_out,
                             sc.args);
      for (int k = 0; k < group.count; ++k) {
        const int e = group.e0 + k;
        const long at = (static_cast<long>(e) * B + group.b0) * p;
        const T* pre = act.hidden_pre.data() + at * h;
        const T* hid = act.hidden.data() + at * h;
        const T* dout = sc.dout + k * sc.stride_out;
        gemm(Trans::yes, Trans::no, h, d_out, rows, T(1), hid, h, dout, d_out, T(1),
             gt.w2 + static_cast<long>(e) * h * d_out, d_out);
        if (gt.b2) add_column_sums(gt.b2 + static_cast<long>(e) * d_out, dout, rows, d_out);
        if (transposed)
          gemm(Trans::no, Trans::no, rows, h, d_out, T(1), dout, d_out, act.w2_t.data() + static_cast<long>(e) * d_out * h,
               h, T(0), sc.dhid, h);
        else
          gemm(Trans::no, Trans::yes, rows, h, d_out, T(1), dout, d_out, w.w2 + static_cast<long>(e) * h * d_out, d_out,
               T(0), sc.dhid, h);
        activation_gradient(sc.dpre, sc.dhid, pre, static_cast<std::size_t>(rows) * h, s.activation);
        gemm(Trans::yes, Trans::no, d, h, rows, T(1), in + k * stride_in, d, sc.dpre, h, T(1),
             gt.w1 + static_cast<long>(e) * d * h, h);
        if (gt.b1) add_column_sums(gt.b1 + static_cast<long>(e) * h, sc.dpre, rows, h);
        if (transposed)
          gemm(Trans::no, Trans::no, rows, d, h, T(1), sc.dpre, h, act.w1_t.data() + static_cast<long>(e) * h * d, d,
               T(0), sc.din + k * sc.stride_in, d);
        else
          gemm(Trans::no, Trans::yes, rows, d, h, T(1), sc.dpre, h, w.w1 + static_cast<long>(e) * d * h, h, T(0),
               sc.din + k * sc.stride_in, d);
      }
      dispatch_backward_group(act.ddispatch.data(), dxe, sc.din, sc.stride_in, act.dispatch.data(), xe, sc.args);
    });
  });
  for (int t = 1; t < threads; ++t) {  // the other threads' expert gradients, in thread order
    const SoftMoeTensors<T> part = thread_grads(g, act, s, t);
    add_into(g.w1, part.w1, n * d * h);
    add_into(g.w2, part.w2, n * h * d_out);
    if (g.b1) add_into(g.b1, part.b1, n * h);
    if (g.b2) add_into(g.b2, part.b2, n * d_out);
  }
}

#define SOFTMOE_INSTANTIATE_EXPERTS(T)                                                                          \
  template void experts_forward<T>(T*, SoftMoeActivations<T>&, const T*, const SoftMoeTensors<T>&,               \
                                   const SoftMoeShape&, int);                                                   \
  template void experts_backward<T>(T*, const SoftMoeTensors<T>&, const T*, const T*, SoftMoeActivations<T>&,   \
                                    const SoftMoeTensors<T>&, const SoftMoeShape&, int);
SOFTMOE_INSTANTIATE_EXPERTS(float)
SOFTMOE_INSTANTIATE_EXPERTS(double)

}  // namespace softmoe::detail
