// The LibTorch peer's sparse-router task (--task router); see libtorch_peer.cpp for the command line.
#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "libtorch_peer.hpp"

namespace softmoe::bench {
namespace {

// ---------------------------------------------------------------------------------------------- sparse routers
// bench_router's model, written as torch_peer.py's RouterModel with its gather dispatch (that file's docstring
// says why): per group of G images (S = 4 G tokens) logits = x W, training noise N(0, (1/n)^2), gates =
// softmax(noisy); every expert's buffer [n, groups C] filled from top-k and a running count in rank-major
// order (Tokens Choice) or each expert's top-C tokens (Experts Choice); expert inputs by index_select, all
// experts as one bmm pair with the gate scaling the hidden activations, combine by index_add; Tokens Choice
// adds importance + load at weight 0.005.
constexpr double kNoiseStd = 1.0, kAuxWeight = 0.005;

torch::Tensor cv2_rows(const torch::Tensor& v) {  // [groups, n] -> population variance / mean^2 per row
  auto mu = v.mean(1);
  return (v - mu.unsqueeze(1)).pow(2).mean(1) / mu.pow(2);
}

struct RouterModel {
  int n, h;
  RouterSettings r;
  torch::Tensor W, w1, w2, head;

  RouterModel(int n_, const RouterSettings& r_) : n(n_), h(kTokens * kDim / n_), r(r_) {
    torch::manual_seed(0);
    W = (torch::randn({kDim, n}) / std::sqrt(double(kDim))).requires_grad_();
    w1 = ((torch::rand({n, kDim, h}) * 2 - 1) / std::sqrt(double(kDim))).requires_grad_();
    w2 = ((torch::rand({n, h, kDim}) * 2 - 1) / std::sqrt(double(h))).requires_grad_();
    head = ((torch::rand({kClasses, kTokens * kDim}) * 2 - 1) / std::sqrt(double(kTokens * kDim))).requires_grad_();
  }

  std::vector<torch::Tensor> parameters() const { return {W, w1, w2, head}; }

  // gates [T, n] -> pair [n, groups C]: index into gates.flatten() of each slot's pair, T n for an empty slot;
  // also the top-K experts [groups, S, K] (Tokens Choice).
  std::pair<torch::Tensor, torch::Tensor> slots(const torch::Tensor& gates, int groups, int S, int C) const {
    const auto opts = torch::kLong;
    const int64_t T = gates.size(0), slots_total = int64_t(n) * groups * C;
    auto g3 = gates.detach().view({groups, S, n});
    auto first = (torch::arange(groups, opts) * S).view({groups, 1, 1});
    if (!r.tokens_choice) {
      auto taken = std::get<1>(g3.topk(C, 1));  // [g, C, n]
      auto e = torch::arange(n, opts).view({1, 1, n});
      return {((first + taken) * n + e).permute({2, 0, 1}).reshape({n, int64_t(groups) * C}), torch::Tensor()};
    }
    const int K = r.k;
    auto choice = std::get<1>(g3.topk(K, 2));  // [g, S, K], best first
    torch::Tensor ordered = choice, token;
    if (r.bpr) {  // tokens by top-1 gate, descending, ties by position
      auto order = std::get<1>(std::get<0>(g3.max(2)).sort(/*stable=*/true, /*dim=*/1, /*descending=*/true));
      ordered = choice.gather(1, order.unsqueeze(2).expand({groups, S, K}));
      token = first.view({groups, 1}) + order;
    } else {
      token = first.view({groups, 1}) + torch::arange(S, opts).view({1, S});
    }
    auto expert = ordered.transpose(1, 2).reshape({groups, int64_t(K) * S});  // rank-major offer order
    auto onehot = torch::one_hot(expert, n);
    auto position = (onehot.cumsum(1) * onehot).sum(2) - 1;
    token = token.repeat({1, K});
    auto slot = expert * (int64_t(groups) * C) + torch::arange(groups, opts).view({groups, 1}) * C + position;
    slot = torch::where(position < C, slot, torch::full_like(slot, slots_total));  // dropped: the dump slot
    auto pair = torch::full({slots_total + 1}, T * n, opts);
    pair.scatter_(0, slot.flatten(), (token * n + expert).flatten());
    return {pair.narrow(0, 0, slots_total).view({n, slots_total / n}), choice};
  }

  // x [B, m, d], noise [B m, n] already scaled (undefined: none) -> logits [B, classes], auxiliary loss
  // (undefined for Experts Choice).
  std::pair<torch::Tensor, torch::Tensor> forward(const torch::Tensor& x, const torch::Tensor& noise) const {
    const int64_t B = x.size(0), T = B * kTokens;
    const int S = r.group_images * kTokens, groups = static_cast<int>(B / r.group_images), C = router_capacity(r, n, S);
    auto X = x.reshape({T, kDim});
    auto logits = X.mm(W);
    auto noisy = noise.defined() ? logits + noise : logits;
    auto gates = noisy.softmax(1);
    auto [pair, choice] = slots(gates, groups, S, C);
    auto token = pair.div(n, "floor").flatten();  // T: the zero row
    auto xin = torch::cat({X, X.new_zeros({1, kDim})}).index_select(0, token).view({n, int64_t(groups) * C, kDim});
    auto gate = torch::cat({gates.flatten(), gates.new_zeros({1})}).index_select(0, pair.flatten());
    auto out = torch::bmm(torch::relu(torch::bmm(xin, w1)) * gate.view({n, int64_t(groups) * C, 1}), w2);
    auto y = torch::zeros({T + 1, kDim}).index_add(0, token, out.view({-1, kDim})).narrow(0, 0, T);
    torch::Tensor aux;
    if (r.tokens_choice) {
      auto clean = noise.defined() ? logits.softmax(1) : gates;
      aux = cv2_rows(clean.view({groups, S, n}).sum(1));
      if (noise.defined()) {
        const double sigma = kNoiseStd / n;
        auto tau = noisy.view({groups, S, n}).gather(2, choice.narrow(2, r.k - 1, 1));  // K-th largest noisy logit
        auto load = (0.5 * torch::erfc((tau - logits.view({groups, S, n})) / (sigma * std::sqrt(2.0)))).mean(1);
        aux = aux + cv2_rows(load);
      }
      aux = aux.mean();
    }
    return {y.view({B, kTokens * kDim}).mm(head.t()), aux};
  }

  // The same model the plain way, for the start-up check: the selection by per-token loops over the gates
  // (the note's definition: stable orders, rank-major filling), every expert on every token, a mask.
  std::pair<torch::Tensor, torch::Tensor> forward_plain(const torch::Tensor& x, const torch::Tensor& noise) const {
    const int64_t B = x.size(0), T = B * kTokens;
    const int S = r.group_images * kTokens, groups = static_cast<int>(B / r.group_images), C = router_capacity(r, n, S);
    auto X = x.reshape({T, kDim});
    auto logits = X.mm(W);
    auto noisy = noise.defined() ? logits + noise : logits;
    auto gates = noisy.softmax(1);
    auto g = gates.detach().contiguous();
    const float* gv = g.data_ptr<float>();
    auto kept = torch::zeros({T, n});
    float* kv = kept.data_ptr<float>();
    std::vector<std::vector<int>> top(S);
    for (int grp = 0; grp < groups; ++grp) {
      const int64_t t0 = int64_t(grp) * S;
      auto gate = [&](int s, int e) { return gv[(t0 + s) * n + e]; };
      auto by_gate = [](std::vector<int>& idx, auto key) {
        std::stable_sort(idx.begin(), idx.end(), [&](int a, int b) { return key(a) > key(b); });
      };
      if (r.tokens_choice) {
        std::vector<int> order(S), count(n, 0);
        for (int s = 0; s < S; ++s) {
          top[s].resize(n);
          for (int e = 0; e < n; ++e) top[s][e] = e;
          by_gate(top[s], [&](int e) { return gate(s, e); });
          order[s] = s;
        }
        if (r.bpr) by_gate(order, [&](int s) { return gate(s, top[s][0]); });
        for (int rank = 0; rank < r.k; ++rank)
          for (int s : order) {
            const int e = top[s][rank];
            if (count[e] < C) kv[(t0 + s) * n + e] = 1, ++count[e];
          }
      } else {
        for (int e = 0; e < n; ++e) {
          std::vector<int> tokens(S);
          for (int s = 0; s < S; ++s) tokens[s] = s;
          by_gate(tokens, [&](int s) { return gate(s, e); });
          for (int i = 0; i < C; ++i) kv[(t0 + tokens[i]) * n + e] = 1;
        }
      }
    }
    auto hidden = torch::relu(torch::einsum("td,edh->teh", {X, w1}));
    auto y = torch::einsum("teh,ehd->td", {hidden * (gates * kept).unsqueeze(2), w2});
    torch::Tensor aux;
    if (r.tokens_choice) {  // per token: the K-th largest noisy logit from the loops' order
      aux = cv2_rows(torch::softmax(logits, 1).view({groups, S, n}).sum(1));
      if (noise.defined()) {
        std::vector<int64_t> kth(T);
        for (int64_t t = 0; t < T; ++t) {
          std::vector<int> idx(n);
          for (int e = 0; e < n; ++e) idx[e] = e;
          std::stable_sort(idx.begin(), idx.end(), [&](int a, int b) { return gv[t * n + a] > gv[t * n + b]; });
          kth[t] = idx[r.k - 1];
        }
        auto tau = noisy.gather(1, torch::tensor(kth).view({T, 1}));
        auto p = 0.5 * torch::erfc((tau - logits) / (kNoiseStd / n * std::sqrt(2.0)));
        aux = aux + cv2_rows(p.view({groups, S, n}).mean(1));
      }
      aux = aux.mean();
    }
    return {y.reshape({B, kTokens * kDim}).mm(head.t()), aux};
  }
};

torch::Tensor router_loss(const std::pair<torch::Tensor, torch::Tensor>& out, const torch::Tensor& labels) {
  auto loss = torch::nn::functional::cross_entropy(out.first, labels);
  return out.second.defined() ? loss + kAuxWeight * out.second : loss;
}

// The vectorised model against forward_plain (same weights, inputs and noise; noise off and on): the largest
// absolute difference of the logits and of each parameter's gradient relative to its largest entry.
double check_router(const RouterModel& model) {
  const int B = 4 * model.r.group_images;
  auto x = torch::randn({B, kTokens, kDim});
  auto labels = torch::randint(0, kClasses, {B});
  double worst = 0;
  for (bool noise_on : {false, true}) {
    auto noise = noise_on ? torch::randn({B * kTokens, model.n}) * (kNoiseStd / model.n) : torch::Tensor();
    auto fast = model.forward(x, noise), plain = model.forward_plain(x, noise);
    worst = std::max(worst, (fast.first - plain.first).abs().max().item<double>());
    auto a = torch::autograd::grad({router_loss(fast, labels)}, model.parameters());
    auto b = torch::autograd::grad({router_loss(plain, labels)}, model.parameters());
    for (std::size_t i = 0; i < a.size(); ++i)
      worst = std::max(worst, ((a[i] - b[i]).abs().max() / b[i].abs().max().clamp_min(1e-30)).item<double>());
  }
  return worst;
}

}  // namespace

void bench_router(const Args& a) {
  const int n = a.experts;
  RouterModel model(n, a.routing);
  const double worst = check_router(model);
  if (!(worst <= 1e-5)) throw std::runtime_error("the router peer disagrees with its plain loops: " + std::to_string(worst));
  std::fprintf(stderr, "router peer == plain loops (%s, n=%d): max difference %.1e\n", router_task(a.routing).c_str(), n,
               worst);
  auto x = torch::randn({a.batch, kTokens, kDim});
  auto labels = torch::randint(0, kClasses, {a.batch});
  torch::optim::Adam optimizer(model.parameters(), torch::optim::AdamOptions(1e-3));
  auto step = [&] {
    optimizer.zero_grad();
    auto noise = torch::randn({a.batch * kTokens, n}) * (kNoiseStd / n);  // training noise, every step
    router_loss(model.forward(x, noise), labels).backward();
    optimizer.step();
  };
  reset_peak_rss();
  const double seconds = median_seconds(step, a.min_seconds, 10, 400, 5);
  print_row(a, router_task(a.routing).c_str(), n, model.h, a.batch, a.routing.tokens_choice ? a.routing.k : 0, seconds,
            3 * router_model_flops(a.routing, n, model.h, a.batch));
}

}  // namespace softmoe::bench
