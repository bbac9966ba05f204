// The LibTorch peer of softmoe's benchmark: the paper's MNIST Soft MoE model in C++ with LibTorch
// (Debian's libtorch-dev), written like bench/torch_peer.py (all experts in one bmm pair; Algorithm 2's
// per-expert loop only for top-k inference), timed the same way, printed as bench/common.hpp's CSV rows.
//   libtorch_peer --task train|infer|sgemm --experts 8 --blas-threads 1 --torch-threads 1
//   libtorch_peer --task router --router tokens-choice|experts-choice --router-k 1 --capacity-factor 1.25 --bpr
//                 --group-images 8 --experts 32 ...   (bench_router's model; torch_peer.py's RouterModel, gather
//                 dispatch, checked at start-up against plain per-token loops)
// OPENBLAS_NUM_THREADS must equal --blas-threads (torch::set_num_threads does not limit OpenBLAS).
#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <iostream>
#include <string>
#include <vector>

#include "measure.hpp"

namespace {

using namespace softmoe::bench;

struct Args {
  std::string task;
  int experts = 8, batch = 256, infer_batch = 5000, chunk = 500, blas_threads = 0, torch_threads = 0;
  double min_seconds = 1.0;
  std::string router = "tokens-choice";
  RouterSettings routing;
};

// The BLAS this process really loaded, from its memory map.
std::string blas_library() {
  std::ifstream maps("/proc/self/maps");
  std::string line, found = "unknown";
  while (std::getline(maps, line)) {
    if (line.find("openblas") != std::string::npos) return "openblas";
    if (line.find("mkl") != std::string::npos) found = "mkl";
    if (line.find("/blas/libblas") != std::string::npos) found = "reference";
  }
  return found;
}

void print_row(const Args& a, const char* task, int n, int h, int batch, int k, double seconds, double flops) {
  std::printf("%s,libtorch,%d,%d,%d,%d,%d,%d,%d,%.6g,%.6g,%.6g,%.1f,%s\n", task,
              std::max(a.blas_threads, a.torch_threads), a.blas_threads, a.torch_threads, n, h, batch, k, seconds,
              std::string(task) == "sgemm" ? 0.0 : batch / seconds, flops / seconds / 1e9, peak_rss_mb(), blas_library().c_str());
  std::fflush(stdout);
}

// Parameters as softmoe's checkpoint names them; normalisation `all`, p = 1, no biases.
struct SoftMoeModel {
  int n, h;
  torch::Tensor phi, scale, w1, w2, head;

  SoftMoeModel(int n_, int h_) : n(n_), h(h_) {
    torch::manual_seed(0);
    auto uniform = [](std::vector<int64_t> shape, double bound) {
      return ((torch::rand(shape) * 2 - 1) * bound).requires_grad_();
    };
    phi = uniform({kDim, n}, 1.0);
    scale = torch::ones({1}, torch::requires_grad());
    w1 = uniform({n, kDim, h}, 1 / std::sqrt(double(kDim)));
    w2 = uniform({n, h, kDim}, 1 / std::sqrt(double(h)));
    head = uniform({kClasses, kTokens * kDim}, 1 / std::sqrt(double(kTokens * kDim)));
  }

  std::vector<torch::Tensor> parameters() const { return {phi, scale, w1, w2, head}; }

  // x [B, m, d] -> xr [B, m, d], dispatch and combine [B, m, S]
  std::tuple<torch::Tensor, torch::Tensor, torch::Tensor> route(const torch::Tensor& x) const {
    auto xr = x / (x.norm(2, -1, true) + 1e-6);
    auto phir = scale * phi / (phi.norm(2, 0, true) + 1e-6);
    auto logits = torch::matmul(xr, phir);
    return {xr, logits.softmax(1), logits.softmax(2)};
  }

  torch::Tensor forward(const torch::Tensor& x) const {
    auto [xr, dispatch, combine] = route(x);
    auto slots = torch::matmul(dispatch.transpose(1, 2), xr).transpose(0, 1);  // [S, B, d]
    auto hidden = torch::relu(torch::bmm(slots, w1));                        // [n, B, h]
    auto outs = torch::bmm(hidden, w2);                                       // [n, B, d]
    auto y = torch::matmul(combine, outs.transpose(0, 1));                    // [B, m, d]
    return torch::matmul(y.flatten(1), head.t());
  }

  // Algorithm 2: each input keeps its k experts of highest combine weight; each kept expert runs once.
  torch::Tensor forward_top_k(const torch::Tensor& x, int k) const {
    const int64_t B = x.size(0);
    auto [xr, dispatch, combine] = route(x);
    auto top = std::get<1>(combine.sum(1).topk(k, 1)).flatten();
    auto inputs = torch::arange(B).repeat_interleave(k);
    auto [experts, order] = top.sort(/*stable=*/true, /*dim=*/0, /*descending=*/false);
    inputs = inputs.index({order});
    using torch::indexing::Slice;
    auto d_sel = dispatch.index({inputs, Slice(), experts});  // [P, m]
    auto c_sel = combine.index({inputs, Slice(), experts});
    auto slots = torch::bmm(d_sel.unsqueeze(1), xr.index({inputs})).squeeze(1);  // [P, d]
    auto outs = torch::empty_like(slots);
    auto counts = torch::bincount(experts, {}, n);
    const int64_t* c = counts.data_ptr<int64_t>();
    int64_t start = 0;
    for (int e = 0; e < n; ++e) {
      if (c[e] == 0) continue;
      const int64_t end = start + c[e];
      outs.index_put_({Slice(start, end)}, torch::relu(slots.index({Slice(start, end)}).mm(w1[e])).mm(w2[e]));
      start = end;
    }
    auto y = torch::zeros_like(xr);
    y.index_add_(0, inputs, c_sel.unsqueeze(2) * outs.unsqueeze(1));
    return torch::matmul(y.flatten(1), head.t());
  }
};

void bench_sgemm(const Args& a) {
  for (int size : {256, 512, 1024}) {
    auto x = torch::rand({size, size}), y = torch::rand({size, size});
    const double seconds = median_seconds([&] { torch::mm(x, y); }, 0.3, 5, 1000, 3);
    print_row(a, "sgemm", 0, 0, size, 0, seconds, 2.0 * size * size * size);
  }
}

void bench_train(const Args& a) {
  const int n = a.experts, h = 784 / n;
  SoftMoeModel model(n, h);
  auto x = torch::randn({a.batch, kTokens, kDim});
  auto labels = torch::randint(0, kClasses, {a.batch});
  torch::optim::Adam optimizer(model.parameters(), torch::optim::AdamOptions(1e-3));
  auto step = [&] {
    optimizer.zero_grad();
    auto loss = torch::nn::functional::cross_entropy(model.forward(x), labels);
    loss.backward();
    optimizer.step();
  };
  reset_peak_rss();
  const double seconds = median_seconds(step, a.min_seconds, 10, 400, 5);
  print_row(a, "train", n, h, a.batch, n, seconds, 3 * model_flops(n, h, a.batch, n));
}

void bench_infer(const Args& a) {
  const int n = a.experts, h = 784 / n, k = std::max(1, n / 8);
  SoftMoeModel model(n, h);
  auto x = torch::randn({a.infer_batch, kTokens, kDim});
  torch::InferenceMode guard;
  auto all = [&] {
    for (int first = 0; first < a.infer_batch; first += a.chunk) model.forward(x.narrow(0, first, std::min(a.chunk, a.infer_batch - first)));
  };
  auto top_k = [&] {
    for (int first = 0; first < a.infer_batch; first += a.chunk)
      model.forward_top_k(x.narrow(0, first, std::min(a.chunk, a.infer_batch - first)), k);
  };
  reset_peak_rss();
  double seconds = median_seconds(all, a.min_seconds, 3, 50, 1);
  print_row(a, "infer_all", n, h, a.infer_batch, n, seconds, model_flops(n, h, a.infer_batch, n));
  reset_peak_rss();
  seconds = median_seconds(top_k, a.min_seconds, 3, 50, 1);
  print_row(a, "infer_topk", n, h, a.infer_batch, k, seconds, model_flops(n, h, a.infer_batch, k));
}

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

}  // namespace

int main(int argc, char** argv) {
  Args a;
  for (int i = 1; i < argc; ++i) {
    const std::string flag = argv[i];
    if (flag == "--bpr") {
      a.routing.bpr = true;
      continue;
    }
    if (i + 1 >= argc) {
      std::cerr << "libtorch_peer: " << flag << " needs a value\n";
      return 2;
    }
    const std::string value = argv[++i];
    if (flag == "--task") a.task = value;
    else if (flag == "--router") a.router = value;
    else if (flag == "--router-k") a.routing.k = std::stoi(value);
    else if (flag == "--capacity-factor") a.routing.capacity_factor = std::stod(value);
    else if (flag == "--group-images") a.routing.group_images = std::stoi(value);
    else if (flag == "--experts") a.experts = std::stoi(value);
    else if (flag == "--batch") a.batch = std::stoi(value);
    else if (flag == "--infer-batch") a.infer_batch = std::stoi(value);
    else if (flag == "--chunk") a.chunk = std::stoi(value);
    else if (flag == "--blas-threads") a.blas_threads = std::stoi(value);
    else if (flag == "--torch-threads") a.torch_threads = std::stoi(value);
    else if (flag == "--min-seconds") a.min_seconds = std::stod(value);
    else {
      std::cerr << "libtorch_peer: unknown flag " << flag << "\n";
      return 2;
    }
  }
  const char* env = std::getenv("OPENBLAS_NUM_THREADS");
  if (a.blas_threads < 1 || a.torch_threads < 1 || !env || std::stoi(env) != a.blas_threads) {
    std::cerr << "libtorch_peer: give --blas-threads and --torch-threads, and set OPENBLAS_NUM_THREADS to the former\n";
    return 2;
  }
  a.routing.tokens_choice = a.router == "tokens-choice";
  if (a.task == "router") {
    const RouterSettings& r = a.routing;
    const bool ok = (r.tokens_choice || a.router == "experts-choice") && a.experts >= 1 && a.experts <= kTokens * kDim &&
                    (r.tokens_choice ? r.k >= 1 && r.k <= a.experts : r.k == 1 && !r.bpr) && r.capacity_factor > 0 &&
                    r.group_images >= 1 && a.batch % r.group_images == 0 &&
                    (r.tokens_choice || std::floor(kTokens * r.group_images * r.capacity_factor / a.experts + 0.5) >= 1);
    if (!ok) {
      std::cerr << "libtorch_peer: --router tokens-choice|experts-choice, --experts in 1..784, --router-k in 1..n and "
                   "--bpr for Tokens Choice only, --capacity-factor > 0, --group-images dividing --batch with an "
                   "Experts Choice capacity of at least 1\n";
      return 2;
    }
  }
  torch::set_num_threads(a.torch_threads);
  torch::set_num_interop_threads(1);
  try {
    if (a.task == "train") bench_train(a);
    else if (a.task == "infer") bench_infer(a);
    else if (a.task == "sgemm") bench_sgemm(a);
    else if (a.task == "router") bench_router(a);
    else {
      std::cerr << "libtorch_peer: --task train, infer, sgemm or router\n";
      return 2;
    }
  } catch (const std::exception& e) {
    std::cerr << "libtorch_peer: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
