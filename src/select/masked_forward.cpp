#include "softmoe/select/masked_forward.hpp"

#include <algorithm>

#include "softmoe/kernels/gemm.hpp"
#include "softmoe/layers/routing.hpp"
#include "softmoe/select/selection.hpp"

namespace softmoe {

using kernels::gemm;
using kernels::Trans;

SelectionWorkspace::SelectionWorkspace(const SoftMoeShape& s, int max_batch_) : max_batch(max_batch_) {
  const std::size_t B = static_cast<std::size_t>(max_batch_), m = s.tokens, d = s.dim, S = s.total_slots(),
                    p = s.slots;
  xr = make_buffer<float>(B * m * d);
  token_norm = make_buffer<float>(B * m);
  phir = make_buffer<float>(d * S);
  phi_norm = make_buffer<float>(S);
  logits = make_buffer<float>(B * m * S);
  dispatch = make_buffer<float>(B * m * S);
  combine = make_buffer<float>(B * m * S);
  scores = make_buffer<float>(B * s.experts);
  keep.assign(B * s.experts, 1);
  kept_weight = make_buffer<float>(B * m);
  members.resize(B);
  slot_in = make_buffer<float>(B * p * d);
  hidden = make_buffer<float>(B * p * s.hidden);
  slot_out = make_buffer<float>(B * p * s.dim_out);
}

void route_batch(SelectionWorkspace& ws, const float* x, const SoftMoeTensors<float>& w, const SoftMoeShape& s,
                 int B) {
  const int m = s.tokens, d = s.dim, S = s.total_slots(), rows = B * m;
  const float* xr = x;
  const float* phir = w.phi;
  if (s.normalize != Normalize::none) {
    l2_normalize_rows_forward(ws.xr.data(), ws.token_norm.data(), x, rows, d);
    scaled_l2_normalize_columns_forward(ws.phir.data(), ws.phi_norm.data(), w.phi, *w.scale, d, S);
    xr = ws.xr.data();
    phir = ws.phir.data();
  }
  gemm(Trans::no, Trans::no, rows, S, d, 1.0f, xr, d, phir, S, 0.0f, ws.logits.data(), S);
  softmax_tokens_forward(ws.dispatch.data(), ws.logits.data(), B, m, S);
  softmax_slots_forward(ws.combine.data(), ws.logits.data(), rows, S);
  expert_scores(ws.scores.data(), ws.combine.data(), B, m, s.experts, s.slots);
}

void run_kept_experts(float* y, SelectionWorkspace& ws, const float* x, const SoftMoeTensors<float>& w,
                      const SoftMoeShape& s, int B, bool renormalize, WorkCount* work) {
  const int m = s.tokens, d = s.dim, n = s.experts, p = s.slots, S = s.total_slots(), h = s.hidden,
            d_out = s.dim_out;
  const float* xe = s.normalize == Normalize::all ? ws.xr.data() : x;
  const float* D = ws.dispatch.data();
  const float* C = ws.combine.data();
  std::fill(y, y + static_cast<long>(B) * m * d_out, 0.0f);

  // Per token, the combine weight that stays: 1 without renormalisation (C's rows sum to 1).
  float* kept = ws.kept_weight.data();
  for (int b = 0; b < B; ++b)
    for (int i = 0; i < m; ++i) {
      float total = 1.0f;
      if (renormalize) {
        total = 0.0f;
        const float* c = C + (static_cast<long>(b) * m + i) * S;
        for (int sl = 0; sl < S; ++sl) total += ws.keep[static_cast<long>(b) * n + sl / p] ? c[sl] : 0.0f;
      }
      kept[b * m + i] = 1.0f / total;
    }

  long evaluated = 0;  // (input, expert) pairs
  for (int e = 0; e < n; ++e) {
    int count = 0;
    for (int b = 0; b < B; ++b)
      if (ws.keep[static_cast<long>(b) * n + e]) ws.members[count++] = b;
    if (count == 0) continue;
    evaluated += count;

    // slot_in [count p, d]: the slot inputs of this expert for its members only
    for (int j = 0; j < count; ++j) {
      const long b = ws.members[j];
      for (int q = 0; q < p; ++q) {
        float* dst = ws.slot_in.data() + (static_cast<long>(j) * p + q) * d;
        std::fill(dst, dst + d, 0.0f);
        for (int i = 0; i < m; ++i) {
          const float weight = D[(b * m + i) * S + e * p + q];
          const float* src = xe + (b * m + i) * d;
          for (int k = 0; k < d; ++k) dst[k] += weight * src[k];
        }
      }
    }

    const int rows = count * p;
    float* hid = ws.hidden.data();
    float* out = ws.slot_out.data();
    if (w.b1)
      for (int r = 0; r < rows; ++r) std::copy(w.b1 + static_cast<long>(e) * h, w.b1 + static_cast<long>(e + 1) * h, hid + static_cast<long>(r) * h);
    gemm(Trans::no, Trans::no, rows, h, d, 1.0f, ws.slot_in.data(), d, w.w1 + static_cast<long>(e) * d * h, h,
         w.b1 ? 1.0f : 0.0f, hid, h);
    activation_forward(hid, hid, static_cast<std::size_t>(rows) * h, s.activation);
    if (w.b2)
      for (int r = 0; r < rows; ++r)
        std::copy(w.b2 + static_cast<long>(e) * d_out, w.b2 + static_cast<long>(e + 1) * d_out, out + static_cast<long>(r) * d_out);
    gemm(Trans::no, Trans::no, rows, d_out, h, 1.0f, hid, h, w.w2 + static_cast<long>(e) * h * d_out, d_out,
         w.b2 ? 1.0f : 0.0f, out, d_out);

    // y[b, i] += C'[b, i, s] * out[slot]
    for (int j = 0; j < count; ++j) {
      const long b = ws.members[j];
      for (int q = 0; q < p; ++q) {
        const float* o = out + (static_cast<long>(j) * p + q) * d_out;
        for (int i = 0; i < m; ++i) {
          const float weight = C[(b * m + i) * S + e * p + q] * kept[b * m + i];
          float* dst = y + (b * m + i) * d_out;
          for (int k = 0; k < d_out; ++k) dst[k] += weight * o[k];
        }
      }
    }
  }

  if (work) {
    const double per_pair_expert = 2.0 * p * (static_cast<double>(d) * h + static_cast<double>(h) * d_out);
    const double per_pair_routing = 2.0 * p * m * (static_cast<double>(d) + d_out);  // dispatch + combine
    work->expert += evaluated * per_pair_expert;
    work->total += evaluated * (per_pair_expert + per_pair_routing) + 2.0 * B * m * static_cast<double>(d) * S;
  }
}

}  // namespace softmoe
