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

#include "libtorch_peer.hpp"

namespace softmoe::bench {




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

namespace {

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

}  // namespace
}  // namespace softmoe::bench

int main(int argc, char** argv) {
  using namespace softmoe::bench;
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
