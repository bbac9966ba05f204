// Expert subset selection: the masked forward (Algorithm 2) against the full layer with dropped slots
// zeroed by hand, both combine variants, top-k and random choices, the oracle's arithmetic, --k parsing.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <vector>

#include "softmoe/commands/specialize.hpp"
#include "softmoe/errors.hpp"
#include "softmoe/layers/linear.hpp"
#include "softmoe/models/moe_model.hpp"
#include "softmoe/rng.hpp"
#include "softmoe/layers/softmoe_selected.hpp"
#include "softmoe/eval/oracle.hpp"
#include "softmoe/layers/expert_selection.hpp"

using namespace softmoe;

namespace {

struct Setup {
  MoeModelConfig config;
  int B = 5;
  std::unique_ptr<MoeModel<float>> model;
  std::vector<float> x;

  explicit Setup(Normalize normalize, int slots = 2) {
    config.moe.tokens = 3;
    config.moe.dim = 6;
    config.moe.experts = 4;
    config.moe.slots = slots;
    config.moe.hidden = 5;
    config.moe.dim_out = 4;
    config.moe.expert_bias = true;
    config.moe.normalize = normalize;
    config.outputs = 3;
    model = std::make_unique<MoeModel<float>>(config, B);
    Rng rng(9, Stream::init);
    model->init(rng);
    x.resize(static_cast<std::size_t>(B) * 3 * 6);
    for (auto& v : x) v = static_cast<float>(rng.normal());
  }

  // The full layer, then y recomputed from its C and slot outputs with dropped experts' slots removed.
  std::vector<float> reference(const std::vector<std::uint8_t>& keep, bool renormalize) {
    const auto& s = config.moe;
    model->forward(x.data(), B);
    auto& act = model->moe_activations();
    const int m = s.tokens, S = s.total_slots(), p = s.slots, n = s.experts, d_out = s.dim_out;
    std::vector<float> y(static_cast<std::size_t>(B) * m * d_out, 0.0f);
    for (int b = 0; b < B; ++b)
      for (int i = 0; i < m; ++i) {
        double kept = 0;
        for (int sl = 0; sl < S; ++sl) kept += keep[b * n + sl / p] ? act.combine[(b * m + i) * S + sl] : 0.0f;
        for (int sl = 0; sl < S; ++sl) {
          if (!keep[b * n + sl / p]) continue;
          const double c = act.combine[(b * m + i) * S + sl] / (renormalize ? kept : 1.0);
          for (int k = 0; k < d_out; ++k)
            y[(b * m + i) * d_out + k] += static_cast<float>(c * act.slot_out[(((sl / p) * B + b) * p + sl % p) * d_out + k]);
        }
      }
    return y;
  }

  std::vector<float> masked(const std::vector<std::uint8_t>& keep, bool renormalize, WorkCount* work = nullptr) {
    SelectionWorkspace ws(config.moe, B);
    const auto w = model->moe_values();
    route_batch(ws, x.data(), w, config.moe, B);
    ws.keep = keep;
    std::vector<float> y(static_cast<std::size_t>(B) * config.moe.tokens * config.moe.dim_out);
    run_kept_experts(y.data(), ws, x.data(), w, config.moe, B, renormalize, work);
    return y;
  }
};

void check_close(const std::vector<float>& a, const std::vector<float>& b) {
  REQUIRE(a.size() == b.size());
  for (std::size_t i = 0; i < a.size(); ++i) CHECK(a[i] == doctest::Approx(b[i]).epsilon(1e-4).scale(1.0));
}

}  // namespace

TEST_CASE("masked forward: keeping every expert is the ordinary forward") {
  for (auto normalize : {Normalize::none, Normalize::router, Normalize::all}) {
    Setup f(normalize);
    const std::vector<std::uint8_t> all(static_cast<std::size_t>(f.B) * 4, 1);
    check_close(f.masked(all, false), f.reference(all, false));
    check_close(f.masked(all, true), f.reference(all, false));
  }
}

TEST_CASE("masked forward: dropped experts contribute nothing; renormalised variant rescales C") {
  for (auto normalize : {Normalize::router, Normalize::all}) {
    Setup f(normalize);
    std::vector<std::uint8_t> keep(static_cast<std::size_t>(f.B) * 4, 0);
    for (int b = 0; b < f.B; ++b) {
      keep[b * 4 + b % 4] = 1;
      keep[b * 4 + (b + 2) % 4] = b % 2;  // some inputs keep two experts, some one
    }
    WorkCount work;
    check_close(f.masked(keep, false, &work), f.reference(keep, false));
    check_close(f.masked(keep, true), f.reference(keep, true));
    const int pairs = std::accumulate(keep.begin(), keep.end(), 0);
    const auto& s = f.config.moe;
    CHECK(work.expert == doctest::Approx(pairs * 2.0 * s.slots * (s.dim * s.hidden + s.hidden * s.dim_out)));
  }
}

TEST_CASE("top-k keeps the largest scores, ties to the lower index; random keeps exactly k") {
  const float scores[2 * 4] = {0.1f, 0.4f, 0.4f, 0.1f, 0.9f, 0.0f, 0.05f, 0.05f};
  std::uint8_t keep[8];
  keep_top_k(keep, scores, 2, 4, 2);
  CHECK(std::vector<int>(keep, keep + 8) == std::vector<int>{0, 1, 1, 0, 1, 0, 1, 0});

  std::vector<std::uint8_t> drawn(100 * 8);
  Rng rng(3, Stream::selection);
  keep_random(drawn.data(), 100, 8, 3, rng);
  std::vector<int> per_expert(8, 0);
  for (int b = 0; b < 100; ++b) {
    CHECK(std::accumulate(drawn.begin() + b * 8, drawn.begin() + b * 8 + 8, 0) == 3);
    for (int e = 0; e < 8; ++e) per_expert[e] += drawn[b * 8 + e];
  }
  for (int e = 0; e < 8; ++e) CHECK(per_expert[e] > 15);  // 37.5 expected; all experts get drawn

  const float combine[1 * 2 * 4] = {0.1f, 0.2f, 0.3f, 0.4f, 0.5f, 0.25f, 0.125f, 0.125f};  // B 1, m 2, n 2, p 2
  float expert[2];
  expert_scores(expert, combine, 1, 2, 2, 2);
  CHECK(expert[0] == doctest::Approx(1.05));
  CHECK(expert[1] == doctest::Approx(0.95));
}

TEST_CASE("top-k keeps what a full sort by (score desc, index asc) keeps, with many ties and signs") {
  const int B = 20, n = 64;
  std::vector<float> scores(B * n);
  Rng rng(5, Stream::selection);
  for (auto& s : scores) s = static_cast<float>(static_cast<int>(rng.below(8)) - 4) / 8;  // 8 values: many ties
  for (int j = 1; j < B * n; j += 3)
    if (scores[j] == 0.0f) scores[j] = -0.0f;  // equal to +0: ties, not ordered
  std::vector<std::uint8_t> keep(B * n);
  for (int k : {1, 7, 32, 63, 64}) {
    keep_top_k(keep.data(), scores.data(), B, n, k);
    for (int b = 0; b < B; ++b) {
      const float* score = scores.data() + b * n;
      std::vector<int> order(n);
      std::iota(order.begin(), order.end(), 0);
      std::stable_sort(order.begin(), order.end(), [&](int a, int c) { return score[a] > score[c]; });
      std::vector<int> expected(n, 0);
      for (int j = 0; j < k; ++j) expected[order[j]] = 1;
      CHECK(std::vector<int>(keep.begin() + b * n, keep.begin() + (b + 1) * n) == expected);
    }
  }
}

TEST_CASE("oracle: per-expert logit contributions add up to the subset's logits") {
  Setup f(Normalize::all, 1);
  const auto& s = f.config.moe;
  const int n = s.experts, classes = f.config.outputs;
  f.model->forward(f.x.data(), f.B);
  auto& act = f.model->moe_activations();
  std::vector<float> contributions(static_cast<std::size_t>(f.B) * n * classes), scratch(s.tokens * s.dim_out);
  const float* head = f.model->params().value(*f.model->params().find("head.weight"));
  const float* bias = f.model->params().value(*f.model->params().find("head.bias"));
  expert_logit_contributions(contributions.data(), act.combine.data(), act.slot_out.data(), head, f.B, s, classes,
                             scratch.data());
  std::vector<std::uint8_t> keep(static_cast<std::size_t>(f.B) * n, 0);
  for (int b = 0; b < f.B; ++b) keep[b * n + 1] = keep[b * n + 3] = 1;
  const auto y = f.masked(keep, false);
  std::vector<float> logits(static_cast<std::size_t>(f.B) * classes);
  linear_forward(logits.data(), y.data(), head, bias, f.B, s.tokens * s.dim_out, classes);
  for (int b = 0; b < f.B; ++b)
    for (int c = 0; c < classes; ++c) {
      const float sum = bias[c] + contributions[(b * n + 1) * classes + c] + contributions[(b * n + 3) * classes + c];
      CHECK(sum == doctest::Approx(logits[b * classes + c]).epsilon(1e-4));
    }

  // some_subset_correct against brute force over all pairs
  for (int b = 0; b < f.B; ++b)
    for (int label = 0; label < classes; ++label) {
      bool any = false;
      for (int e1 = 0; e1 < n; ++e1)
        for (int e2 = e1 + 1; e2 < n; ++e2) {
          std::vector<std::uint8_t> pair(n, 0);
          pair[e1] = pair[e2] = 1;
          any = any || subset_correct(contributions.data() + b * n * classes, bias, n, classes, label, pair.data());
        }
      CHECK(some_subset_correct(contributions.data() + b * n * classes, bias, n, classes, 2, label, nullptr) == any);
    }
  CHECK(binomial(64, 8) == doctest::Approx(4426165368.0));
}

TEST_CASE("--k lists: numbers, fractions of n, all; bad values refused") {
  CHECK(parse_k_list("1,2,8", 8) == std::vector<int>{1, 2, 8});
  CHECK(parse_k_list("1/2,1/4,1/8", 64) == std::vector<int>{8, 16, 32});
  CHECK(parse_k_list("all", 4) == std::vector<int>{1, 2, 3});
  CHECK(parse_k_list("2,all", 3) == std::vector<int>{1, 2});
  CHECK_THROWS_AS(parse_k_list("0", 8), UsageError);
  CHECK_THROWS_AS(parse_k_list("9", 8), UsageError);
  CHECK_THROWS_AS(parse_k_list("1/3", 8), UsageError);
  CHECK_THROWS_AS(parse_k_list("x", 8), UsageError);
  CHECK_THROWS_AS(parse_k_list("", 8), UsageError);
}
