// Algorithm 2 with every part restricted to the kept slots: the router logits are one GEMM over the
// batch, and the combine softmax runs over all slots (the scores need it); then each engine thread takes
// a contiguous range of inputs and, expert by expert, the inputs of its range that kept the expert:
// dispatch weights of those slots (softmax over tokens of one logits column), slot inputs, the expert,
// and the combine into the inputs' outputs. Narrow experts go input by input instead (softmoe_selected_narrow.cpp).
// Threads write disjoint outputs, experts are added in index order, so results do not depend on the
// thread count's split (and repeat exactly for a given count).
#include "softmoe/layers/softmoe_selected.hpp"

#include <algorithm>
#include <cmath>

#include <xsimd/xsimd.hpp>

#include "softmoe/kernels/gemm.hpp"
#include "softmoe/kernels/parallel.hpp"
#include "softmoe/kernels/vector_ops.hpp"
#include "softmoe/layers/routing.hpp"
#include "softmoe/layers/expert_selection.hpp"
#include "softmoe_selected_parts.hpp"
#include "softmoe/kernels/narrow_expert.hpp"

namespace softmoe {

using kernels::gemm;
using kernels::Trans;

namespace {

using detail::Dims;
using detail::inverse_kept_mass;
using detail::kNarrowHidden;
using detail::prefetch_rows;

// weights [m] = softmax over the m tokens of column s of logits [m, S] (as softmax_tokens_forward)
void token_softmax(float* weights, const float* logits, int m, int S) {
  float max = logits[0];
  for (int i = 1; i < m; ++i) max = logits[static_cast<long>(i) * S] > max ? logits[static_cast<long>(i) * S] : max;
  for (int i = 0; i < m; ++i) weights[i] = kernels::exp_fast(logits[static_cast<long>(i) * S] - max);
  float sum = weights[0];
  for (int i = 1; i < m; ++i) sum += weights[i];
  const float inv = 1.0f / sum;
  for (int i = 0; i < m; ++i) weights[i] *= inv;
}

// slot [d] = sum_i weights[i] x[i], x [m, d]: one pass over slot, the tokens' terms summed in registers
void mix_tokens(float* slot, const float* weights, const float* x, int m, int d) {
  using V = xsimd::batch<float>;
  constexpr int W = static_cast<int>(V::size);
  int k = 0;
  for (; k + W <= d; k += W) {
    V acc = V(weights[0]) * V::load_unaligned(x + k);
    for (int i = 1; i < m; ++i) acc = xsimd::fma(V(weights[i]), V::load_unaligned(x + static_cast<long>(i) * d + k), acc);
    acc.store_unaligned(slot + k);
  }
  for (; k < d; ++k) {
    float acc = weights[0] * x[k];
    for (int i = 1; i < m; ++i) acc = std::fma(weights[i], x[static_cast<long>(i) * d + k], acc);
    slot[k] = acc;
  }
}

// y [m, d_out] += weights[i] out [d_out] for each token i
void combine_slot(float* y, const float* weights, const float* out, int m, int d_out) {
  for (int i = 0; i < m; ++i) kernels::axpy(y + static_cast<long>(i) * d_out, weights[i], out, d_out);
}

// Thread `thread`'s inputs [b0, b1): gathers each kept slot's weights into pair order, then runs expert by
// expert over its members in the range.
struct ThreadRun {
  SelectionWorkspace& ws;
  const SoftMoeTensors<float>& w;
  const SoftMoeShape& shape;
  const Dims& z;
  const float* xe;  // [B, m, d], the experts' view of the tokens
  float* y;         // [B, m, d_out]
  long b0, b1;
  float *slot_in, *hidden, *slot_out;  // this thread's block of one expert's slot rows
  std::int32_t* cursor;                // [n] this thread's next pair position per expert

  // pair_weights[(j p + q) 2m ...]: D[b, :, s] then C[b, :, s] / kept mass, for pair j = (b, e), slot q;
  // read input by input, so the logits and combine rows stream through the cache once
  void gather(bool renormalize) const {
    const std::uint8_t* keep = ws.keep.data();
    for (int e = 0; e < z.n; ++e) {
      const std::int32_t* all = ws.members.data() + ws.expert_start[e];
      const std::int32_t* end = ws.members.data() + ws.expert_start[e + 1];
      cursor[e] = static_cast<std::int32_t>(std::lower_bound(all, end, static_cast<std::int32_t>(b0)) - ws.members.data());
    }
    for (long b = b0; b < b1; ++b) {
      float* kept = ws.kept_weight.data() + b * z.m;
      const float* L = ws.logits.data() + b * z.m * z.S;
      const float* C = ws.combine.data() + b * z.m * z.S;
      inverse_kept_mass(kept, keep + b * z.n, C, z, renormalize);
      for (int e = 0; e < z.n; ++e) {
        if (!keep[b * z.n + e]) continue;
        const long j = cursor[e]++;
        for (int q = 0; q < z.p; ++q) {
          const int sl = e * z.p + q;
          float* pw = ws.pair_weights.data() + (j * z.p + q) * 2 * z.m;
          token_softmax(pw, L + sl, z.m, z.S);
          for (int i = 0; i < z.m; ++i) pw[z.m + i] = C[static_cast<long>(i) * z.S + sl] * kept[i];
        }
      }
    }
  }

  // expert e over the pairs [first, last) of ws.members: slot rows, one GEMM pair, combine
  void expert(int e, long first, long last) const {
    const int count = static_cast<int>(last - first), r = count * z.p;
    const std::int32_t* member = ws.members.data();
    const float* pw = ws.pair_weights.data();
    for (long j = first; j < last; ++j) {
      if (j + 2 < last) prefetch_rows(xe + member[j + 2] * z.m * z.d, z.m * z.d);
      for (int q = 0; q < z.p; ++q)
        mix_tokens(slot_in + ((j - first) * z.p + q) * z.d, pw + (j * z.p + q) * 2 * z.m, xe + member[j] * z.m * z.d,
                   z.m, z.d);
    }
    if (w.b1)
      for (int i = 0; i < r; ++i)
        std::copy(w.b1 + static_cast<long>(e) * z.h, w.b1 + static_cast<long>(e + 1) * z.h, hidden + static_cast<long>(i) * z.h);
    gemm(Trans::no, Trans::no, r, z.h, z.d, 1.0f, slot_in, z.d, w.w1 + static_cast<long>(e) * z.d * z.h, z.h,
         w.b1 ? 1.0f : 0.0f, hidden, z.h);
    activation_forward(hidden, hidden, static_cast<std::size_t>(r) * z.h, shape.activation);
    if (w.b2)
      for (int i = 0; i < r; ++i)
        std::copy(w.b2 + static_cast<long>(e) * z.d_out, w.b2 + static_cast<long>(e + 1) * z.d_out,
                  slot_out + static_cast<long>(i) * z.d_out);
    gemm(Trans::no, Trans::no, r, z.d_out, z.h, 1.0f, hidden, z.h, w.w2 + static_cast<long>(e) * z.h * z.d_out, z.d_out,
         w.b2 ? 1.0f : 0.0f, slot_out, z.d_out);
    for (long j = first; j < last; ++j) {
      if (j + 2 < last) prefetch_rows(y + member[j + 2] * z.m * z.d_out, z.m * z.d_out);
      for (int q = 0; q < z.p; ++q)
        combine_slot(y + member[j] * z.m * z.d_out, pw + (j * z.p + q) * 2 * z.m + z.m,
                     slot_out + ((j - first) * z.p + q) * z.d_out, z.m, z.d_out);
    }
  }

  void run(bool renormalize) const {
    std::fill(y + b0 * z.m * z.d_out, y + b1 * z.m * z.d_out, 0.0f);
    gather(renormalize);
    for (int e = 0; e < z.n; ++e) {
      const std::int32_t* all = ws.members.data() + ws.expert_start[e];
      const std::int32_t* end = ws.members.data() + ws.expert_start[e + 1];
      const std::int32_t* first = std::lower_bound(all, end, static_cast<std::int32_t>(b0));
      const std::int32_t* last = std::lower_bound(first, end, static_cast<std::int32_t>(b1));
      if (first != last) expert(e, first - ws.members.data(), last - ws.members.data());
    }
  }
};

}  // namespace

SelectionWorkspace::SelectionWorkspace(const SoftMoeShape& s, int max_batch_) : max_batch(max_batch_), shape_(s) {
  const std::size_t B = static_cast<std::size_t>(max_batch_), m = s.tokens, d = s.dim, S = s.total_slots();
  xr = make_buffer<float>(B * m * d);
  token_norm = make_buffer<float>(B * m);
  phir = make_buffer<float>(d * S);
  phi_norm = make_buffer<float>(S);
  logits = make_buffer<float>(B * m * S);
  combine = make_buffer<float>(B * m * S);
  scores = make_buffer<float>(B * s.experts);
  keep.assign(B * s.experts, 1);
  pair_weights = make_buffer<float>(0);  // sized by run_kept_experts to the pairs it meets
  if (s.hidden > kNarrowHidden) {         // the grouped path's bookkeeping
    kept_weight = make_buffer<float>(B * m);
    members.resize(B * s.experts);
    expert_start.resize(static_cast<std::size_t>(s.experts) + 1);
  } else {
    const std::size_t n = s.experts, h = s.hidden, dp = kernels::narrow_padded(s.dim),
                      dp_out = kernels::narrow_padded(s.dim_out);
    w1_t = make_buffer<float>(n * h * dp);
    w2_padded = make_buffer<float>(n * h * dp_out);
    b2_padded = make_buffer<float>(s.expert_bias ? n * dp_out : 0);
  }
  reserve_scratch(kernels::threads());
}

void SelectionWorkspace::reserve_scratch(int threads) {
  if (threads <= scratch_threads) return;
  const std::size_t t = static_cast<std::size_t>(threads), r = static_cast<std::size_t>(max_batch) * shape_.slots;
  const std::size_t d = shape_.dim, h = shape_.hidden, d_out = shape_.dim_out;
  if (shape_.hidden > kNarrowHidden) {
    slot_in = make_buffer<float>(t * r * d);
    hidden = make_buffer<float>(t * r * h);
    slot_out = make_buffer<float>(t * r * d_out);
    cursors.resize(t * shape_.experts);
  } else {
    narrow_scratch = make_buffer<float>(t * detail::narrow_scratch_floats(Dims(shape_)));
    narrow_rows.resize(t * 2 * shape_.total_slots());
    narrow_slots.resize(t * shape_.total_slots());
  }
  scratch_threads = threads;
}

void route_batch(SelectionWorkspace& ws, const float* x, const SoftMoeTensors<float>& w, const SoftMoeShape& s,
                 int B) {
  // x [B, m, d] -> logits, combine [B, m, S]; scores [B, n]
  const int m = s.tokens, d = s.dim, n = s.experts, S = s.total_slots(), rows = B * m;
  const float* xr = x;
  const float* phir = w.phi;
  if (s.normalize != Normalize::none) {
    l2_normalize_rows_forward(ws.xr.data(), ws.token_norm.data(), x, rows, d);
    scaled_l2_normalize_columns_forward(ws.phir.data(), ws.phi_norm.data(), w.phi, *w.scale, d, S);
    xr = ws.xr.data();
    phir = ws.phir.data();
  }
  kernels::gemm_parallel(Trans::no, Trans::no, rows, S, d, 1.0f, xr, d, phir, S, 0.0f, ws.logits.data(), S);
  softmax_slots_forward(ws.combine.data(), ws.logits.data(), rows, S);
  if (s.slots != 1) {
    expert_scores(ws.scores.data(), ws.combine.data(), B, m, n, s.slots);
    return;
  }
  // p = 1: score[b, e] = sum_i C[b, i, e], added in token order as expert_scores does
  kernels::parallel_for(B, 64, [&](long begin, long end) {
    for (long b = begin; b < end; ++b) {
      float* score = ws.scores.data() + b * n;
      const float* c = ws.combine.data() + b * m * S;
      std::copy(c, c + n, score);
      for (int i = 1; i < m; ++i) kernels::axpy(score, 1.0f, c + static_cast<long>(i) * S, n);
    }
  });
}

namespace {

// members and expert_start: the inputs that kept each expert, ascending, grouped by expert; sizes
// pair_weights. Returns the number of (input, expert) pairs.
long group_by_expert(SelectionWorkspace& ws, const Dims& z, int B) {
  const std::uint8_t* keep = ws.keep.data();
  std::fill(ws.expert_start.begin(), ws.expert_start.end(), 0);
  for (int b = 0; b < B; ++b)
    for (int e = 0; e < z.n; ++e) ws.expert_start[e + 1] += keep[static_cast<long>(b) * z.n + e];
  for (int e = 0; e < z.n; ++e) ws.expert_start[e + 1] += ws.expert_start[e];
  const long pairs = ws.expert_start[z.n];
  const std::size_t weights = static_cast<std::size_t>(pairs) * z.p * 2 * z.m;
  if (ws.pair_weights.size() < weights) ws.pair_weights = make_buffer<float>(weights);
  for (int e = 0, filled = 0; e < z.n; ++e)
    for (int b = 0; b < B; ++b)
      if (keep[static_cast<long>(b) * z.n + e]) ws.members[filled++] = b;
  return pairs;
}

}  // namespace

void run_kept_experts(float* y, SelectionWorkspace& ws, const float* x, const SoftMoeTensors<float>& w,
                      const SoftMoeShape& s, int B, bool renormalize, WorkCount* work) {
  // y [B, m, d_out] = sum over kept slots s of C'[b, i, s] f_e(sum_i D[b, i, s] xe[b, i])
  const Dims z(s);
  const float* xe = s.normalize == Normalize::all ? ws.xr.data() : x;
  const std::uint8_t* keep = ws.keep.data();
  const int threads = kernels::threads();
  ws.reserve_scratch(threads);

  const bool narrow = z.h <= kNarrowHidden;
  if (narrow) detail::pad_narrow_weights(ws, w, z);
  const long evaluated =  // (input, expert) pairs
      narrow ? std::count(keep, keep + static_cast<long>(B) * z.n, std::uint8_t{1}) : group_by_expert(ws, z, B);

  const long r_max = static_cast<long>(ws.max_batch) * z.p;
  kernels::parallel([&](int thread) {
    const kernels::Range mine = kernels::split(B, thread, threads);
    if (mine.begin == mine.end) return;
    if (narrow) {
      detail::run_narrow_inputs(y, ws, xe, w, s, mine.begin, mine.end, thread, renormalize);
      return;
    }
    const ThreadRun run{ws,
                        w,
                        s,
                        z,
                        xe,
                        y,
                        mine.begin,
                        mine.end,
                        ws.slot_in.data() + thread * r_max * z.d,
                        ws.hidden.data() + thread * r_max * z.h,
                        ws.slot_out.data() + thread * r_max * z.d_out,
                        ws.cursors.data() + static_cast<long>(thread) * z.n};
    run.run(renormalize);
  });

  if (work) {
    const double per_pair_expert = 2.0 * z.p * (static_cast<double>(z.d) * z.h + static_cast<double>(z.h) * z.d_out);
    const double per_pair_routing = 2.0 * z.p * z.m * (static_cast<double>(z.d) + z.d_out);  // dispatch + combine
    work->expert += evaluated * per_pair_expert;
    work->total += evaluated * (per_pair_expert + per_pair_routing) + 2.0 * B * z.m * static_cast<double>(z.d) * z.S;
  }
}

}  // namespace softmoe
