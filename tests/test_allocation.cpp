// A steady-state training step allocates nothing: a global operator new that counts calls while a window
// is open (every thread, every form of new) sees zero during forward, loss, backward and the Adam update,
// with one and two threads, for wide experts (one block per thread) and small ones (example blocks).
// It forwards to malloc / aligned_alloc, so it also runs under AddressSanitizer, which still checks every
// allocation underneath; only the window's count matters, so what happens outside it is irrelevant.
#include <doctest/doctest.h>

#include <atomic>
#include <cstdlib>
#include <new>
#include <vector>

#include "softmoe/kernels/gemm.hpp"
#include "softmoe/layers/loss.hpp"
#include "softmoe/models/moe_model.hpp"
#include "softmoe/models/routed_model.hpp"
#include "softmoe/optim.hpp"
#include "softmoe/rng.hpp"

namespace {

std::atomic<bool> counting{false};
std::atomic<long> allocations{0};

void* allocate(std::size_t size, std::size_t alignment) {
  if (counting.load(std::memory_order_relaxed)) allocations.fetch_add(1, std::memory_order_relaxed);
  if (size == 0) size = 1;
  void* p = alignment > alignof(std::max_align_t)
                ? std::aligned_alloc(alignment, (size + alignment - 1) / alignment * alignment)
                : std::malloc(size);
  if (!p) throw std::bad_alloc();
  return p;
}

}  // namespace

void* operator new(std::size_t size) { return allocate(size, 0); }
void* operator new[](std::size_t size) { return allocate(size, 0); }
void* operator new(std::size_t size, std::align_val_t a) { return allocate(size, static_cast<std::size_t>(a)); }
void* operator new[](std::size_t size, std::align_val_t a) { return allocate(size, static_cast<std::size_t>(a)); }
void* operator new(std::size_t size, const std::nothrow_t&) noexcept {
  try {
    return allocate(size, 0);
  } catch (...) {
    return nullptr;
  }
}
void* operator new[](std::size_t size, const std::nothrow_t&) noexcept {
  try {
    return allocate(size, 0);
  } catch (...) {
    return nullptr;
  }
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t) noexcept { std::free(p); }
void operator delete(void* p, std::align_val_t) noexcept { std::free(p); }
void operator delete[](void* p, std::align_val_t) noexcept { std::free(p); }
void operator delete(void* p, std::size_t, std::align_val_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t, std::align_val_t) noexcept { std::free(p); }

using namespace softmoe;

namespace {

// Allocations made by `steps` training steps of `model` (inputs [64, 4, 196], 10 classes), after two
// warm-up steps.
long allocations_in_steps(Model<float>& model, int threads, int steps) {
  kernels::set_blas_threads(threads);
  const int batch = 64, classes = 10;
  Rng rng(0, Stream::init);
  model.init(rng);
  model.set_training(true, 7);
  Optimizer<float> optimizer(OptimizerConfig{}, model.params().size());
  std::vector<float> x(static_cast<std::size_t>(batch) * 4 * 196), probs(batch * classes), dlogits(batch * classes);
  std::vector<std::int32_t> labels(batch);
  for (auto& v : x) v = static_cast<float>(rng.normal());
  for (int i = 0; i < batch; ++i) labels[i] = i % classes;

  auto step = [&] {
    model.params().zero_grad();
    const float* logits = model.forward(x.data(), batch);
    softmax_cross_entropy_forward(probs.data(), logits, labels.data(), batch, classes);
    std::fill(dlogits.begin(), dlogits.end(), 0.0f);
    softmax_cross_entropy_backward(dlogits.data(), probs.data(), labels.data(), batch, classes);
    model.backward(dlogits.data(), batch);
    optimizer.step(model.params().values(), model.params().grads());
  };
  step();
  step();
  allocations = 0;
  counting = true;
  for (int i = 0; i < steps; ++i) step();
  counting = false;
  kernels::set_blas_threads(1);
  return allocations.load();
}

// The paper's MNIST model with n experts of hidden h.
long soft_moe_allocations(int experts, int hidden, int threads) {
  MoeModelConfig config;
  config.moe.tokens = 4;
  config.moe.dim = 196;
  config.moe.experts = experts;
  config.moe.hidden = hidden;
  config.moe.dim_out = 196;
  config.moe.normalize = Normalize::all;
  config.outputs = 10;
  config.head_bias = false;
  config.phi_init = PhiInit::uniform;
  MoeModel<float> model(config, 64);
  model.moe_activations().store_slots = false;  // as train_classifier_epoch runs it
  return allocations_in_steps(model, threads, 3);
}

// The same experts behind a sparse router.
long routed_allocations(SparseRouting routing, int experts, int k, bool bpr, AuxLoss aux, int threads) {
  RoutedModelConfig config;
  config.moe.routing = routing;
  config.moe.tokens = 4;
  config.moe.dim = 196;
  config.moe.experts = routing == SparseRouting::dense ? 1 : experts;
  config.moe.hidden = routing == SparseRouting::dense ? 784 : 784 / experts;
  config.moe.dim_out = 196;
  config.moe.k = k;
  config.moe.capacity_factor = 1.25;
  config.moe.bpr = bpr;
  config.moe.noise_std = routing == SparseRouting::dense ? 0.0 : 1.0;
  config.moe.aux = aux;
  config.moe.aux_weight = 0.01;
  RoutedMoeModel<float> model(config, 64);
  return allocations_in_steps(model, threads, 3);
}

}  // namespace

TEST_CASE("allocation: the counting operator new sees allocations in its window") {
  allocations = 0;
  counting = true;
  auto* p = new std::vector<int>(100);
  counting = false;
  delete p;
  CHECK(allocations.load() == 2);  // the vector and its buffer
}

TEST_CASE("allocation: a steady-state training step allocates nothing") {
  for (int threads : {1, 2})
    for (int experts : {8, 128}) {  // wide experts, and small ones processed in example blocks
      CAPTURE(threads);
      CAPTURE(experts);
      CHECK(soft_moe_allocations(experts, 784 / experts, threads) == 0);
    }
}

TEST_CASE("allocation: a steady-state training step of a sparse router allocates nothing") {
  for (int threads : {1, 2}) {
    CAPTURE(threads);
    CHECK(routed_allocations(SparseRouting::tokens_choice, 8, 2, true, AuxLoss::importance_load, threads) == 0);
    CHECK(routed_allocations(SparseRouting::tokens_choice, 64, 1, false, AuxLoss::switch_balance, threads) == 0);
    CHECK(routed_allocations(SparseRouting::experts_choice, 32, 1, false, AuxLoss::none, threads) == 0);
    CHECK(routed_allocations(SparseRouting::dense, 8, 1, false, AuxLoss::none, threads) == 0);
  }
}
