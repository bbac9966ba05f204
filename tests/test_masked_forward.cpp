// The top-k paths (src/layers/softmoe_selected.cpp: narrow experts input by input; wider ones with pairs
// grouped by expert, one GEMM pair per expert and thread; kept slots only) against a plain
// per-(input, expert) reference of Algorithm 2 written from the definitions, through the head to the
// logits; one and two engine threads.
#include <doctest/doctest.h>

#include <cmath>
#include <vector>

#include "softmoe/kernels/gemm.hpp"
#include "softmoe/layers/linear.hpp"
#include "softmoe/models/moe_model.hpp"
#include "softmoe/rng.hpp"
#include "softmoe/layers/softmoe_selected.hpp"
#include "softmoe/layers/expert_selection.hpp"

using namespace softmoe;

namespace {

struct Threads {
  explicit Threads(int count) { kernels::set_blas_threads(count); }
  ~Threads() { kernels::set_blas_threads(1); }
};

// y [B, m, d_out] of the kept experts, in double, from ws.logits (D) and ws.combine (C)
std::vector<double> reference_y(const SelectionWorkspace& ws, const float* x, const SoftMoeTensors<float>& w,
                                const SoftMoeShape& s, int B, bool renormalize) {
  const int m = s.tokens, d = s.dim, n = s.experts, p = s.slots, S = s.total_slots(), h = s.hidden,
            d_out = s.dim_out;
  const float* xe = s.normalize == Normalize::all ? ws.xr.data() : x;
  std::vector<double> y(static_cast<std::size_t>(B) * m * d_out, 0.0);
  for (int b = 0; b < B; ++b)
    for (int e = 0; e < n; ++e) {
      if (!ws.keep[b * n + e]) continue;
      for (int q = 0; q < p; ++q) {
        const int sl = e * p + q;
        double max = -INFINITY, sum = 0;
        for (int i = 0; i < m; ++i) max = std::max(max, double(ws.logits[(b * m + i) * S + sl]));
        std::vector<double> D(m), slot(d, 0.0), hid(h), out(d_out);
        for (int i = 0; i < m; ++i) sum += D[i] = std::exp(ws.logits[(b * m + i) * S + sl] - max);
        for (int i = 0; i < m; ++i)
          for (int k = 0; k < d; ++k) slot[k] += D[i] / sum * xe[(b * m + i) * d + k];
        for (int j = 0; j < h; ++j) {
          double a = w.b1 ? w.b1[e * h + j] : 0.0;
          for (int k = 0; k < d; ++k) a += slot[k] * w.w1[(e * d + k) * h + j];
          hid[j] = a > 0 ? a : 0;  // ReLU
        }
        for (int k = 0; k < d_out; ++k) {
          double a = w.b2 ? w.b2[e * d_out + k] : 0.0;
          for (int j = 0; j < h; ++j) a += hid[j] * w.w2[(e * h + j) * d_out + k];
          out[k] = a;
        }
        for (int i = 0; i < m; ++i) {
          double kept = 0;
          for (int t = 0; t < S; ++t) kept += ws.keep[b * n + t / p] ? ws.combine[(b * m + i) * S + t] : 0.0f;
          const double c = ws.combine[(b * m + i) * S + sl] / (renormalize ? kept : 1.0);
          for (int k = 0; k < d_out; ++k) y[(b * m + i) * d_out + k] += c * out[k];
        }
      }
    }
  return y;
}

}  // namespace

TEST_CASE("masked forward: both paths give the per-pair reference's logits, one and two threads") {
  struct Widths {
    int hidden, tokens;
  };
  // narrow experts (h <= 8) run input by input, four tokens at a time; wide ones grouped by expert
  for (const Widths widths : {Widths{3, 4}, Widths{8, 6}, Widths{40, 4}})
  for (int slots : {1, 2})
    for (bool bias : {false, true})
      for (int threads : {1, 2})
        for (bool renormalize : {false, true}) {
          CAPTURE(widths.hidden);
          CAPTURE(widths.tokens);
          CAPTURE(slots);
          CAPTURE(bias);
          CAPTURE(threads);
          CAPTURE(renormalize);
          Threads pool(threads);
          MoeModelConfig config;
          config.moe.tokens = widths.tokens;
          config.moe.dim = 37;  // not a multiple of the SIMD width
          config.moe.experts = 16;
          config.moe.slots = slots;
          config.moe.hidden = widths.hidden;
          config.moe.dim_out = 37;
          config.moe.expert_bias = bias;
          config.moe.normalize = Normalize::all;
          config.outputs = 10;
          const SoftMoeShape& s = config.moe;
          const int B = 61, k = 2;
          MoeModel<float> model(config, B);
          Rng rng(11, Stream::init);
          model.init(rng);
          std::vector<float> x(static_cast<std::size_t>(B) * s.tokens * s.dim);
          for (auto& v : x) v = static_cast<float>(rng.normal());

          SelectionWorkspace ws(s, B);
          const auto w = model.moe_values();
          route_batch(ws, x.data(), w, s, B);
          keep_top_k(ws.keep.data(), ws.scores.data(), B, s.experts, k);
          ws.keep[0] = 1;  // input 0 keeps one more expert than the others
          std::vector<float> y(static_cast<std::size_t>(B) * s.tokens * s.dim_out, -1.0f);
          run_kept_experts(y.data(), ws, x.data(), w, s, B, renormalize, nullptr);
          const auto expected_y = reference_y(ws, x.data(), w, s, B, renormalize);

          const auto& params = model.params();
          const float* head = params.value(*params.find("head.weight"));
          const float* head_bias = params.value(*params.find("head.bias"));
          const int inputs = s.tokens * s.dim_out, classes = config.outputs;
          std::vector<float> logits(static_cast<std::size_t>(B) * classes);
          linear_forward(logits.data(), y.data(), head, head_bias, B, inputs, classes);
          for (int b = 0; b < B; ++b)
            for (int c = 0; c < classes; ++c) {
              double expected = head_bias[c];
              for (int j = 0; j < inputs; ++j) expected += expected_y[b * inputs + j] * head[c * inputs + j];
              CHECK(logits[b * classes + c] == doctest::Approx(expected).epsilon(1e-4).scale(1.0));
            }
        }
}

TEST_CASE("masked forward: results repeat exactly for a thread count; inputs that keep nothing get zero") {
  MoeModelConfig config;
  config.moe.tokens = 4;
  config.moe.dim = 20;
  config.moe.experts = 8;
  config.moe.hidden = 5;
  config.moe.dim_out = 20;
  config.moe.normalize = Normalize::all;
  config.outputs = 3;
  const SoftMoeShape& s = config.moe;
  const int B = 40;
  MoeModel<float> model(config, B);
  Rng rng(12, Stream::init);
  model.init(rng);
  std::vector<float> x(static_cast<std::size_t>(B) * s.tokens * s.dim);
  for (auto& v : x) v = static_cast<float>(rng.normal());
  Threads pool(2);
  SelectionWorkspace ws(s, B);
  const auto w = model.moe_values();
  route_batch(ws, x.data(), w, s, B);
  keep_top_k(ws.keep.data(), ws.scores.data(), B, s.experts, 3);
  for (int e = 0; e < s.experts; ++e) ws.keep[7 * s.experts + e] = 0;
  std::vector<float> first(static_cast<std::size_t>(B) * s.tokens * s.dim_out, 1.0f), again(first.size(), 2.0f);
  run_kept_experts(first.data(), ws, x.data(), w, s, B, false, nullptr);
  run_kept_experts(again.data(), ws, x.data(), w, s, B, false, nullptr);
  CHECK(first == again);
  for (int j = 0; j < s.tokens * s.dim_out; ++j) CHECK(first[7 * s.tokens * s.dim_out + j] == 0.0f);
}
