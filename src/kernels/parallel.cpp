// The engine's thread pool (see parallel.hpp). Workers wait for a new region by spinning briefly (a
// training step starts a region every few hundred microseconds) and then sleep on a condition variable.
#include "softmoe/kernels/parallel.hpp"

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define SOFTMOE_PAUSE() _mm_pause()
#else
#define SOFTMOE_PAUSE() std::this_thread::yield()
#endif

extern "C" void openblas_set_num_threads(int);  // no <cblas.h> here: see gemm.hpp
extern "C" int openblas_get_num_threads(void);

namespace softmoe::kernels {
namespace {

using Clock = std::chrono::steady_clock;
constexpr auto kSpin = std::chrono::microseconds(200);  // spin this long before sleeping

thread_local bool in_region = false;

// Spins until ready() or kSpin has passed; true if ready.
template <class Ready>
bool spin_until(Ready ready) {
  const auto start = Clock::now();
  for (int i = 1;; ++i) {
    if (ready()) return true;
    SOFTMOE_PAUSE();
    if (i % 64 == 0) {
      if (Clock::now() - start > kSpin) return false;
      std::this_thread::yield();
    }
  }
}

class Pool {
 public:
  ~Pool() { resize(1); }

  int size() const { return size_; }

  void resize(int count) {
    if (count == size_) return;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      stop_.store(true);
    }
    wake_.notify_all();
    for (auto& w : workers_) w.join();
    workers_.clear();
    stop_.store(false);
    size_ = count < 1 ? 1 : count;
    // A worker must not miss a region started before it first looks at the generation.
    const std::uint64_t now = generation_.load(std::memory_order_acquire);
    for (int t = 1; t < size_; ++t) workers_.emplace_back([this, t, now] { work(t, now); });
  }

  // False (and nothing run) when another thread is using the pool.
  bool try_run(void (*body)(void*, int), void* context) {
    if (busy_.exchange(true, std::memory_order_acquire)) return false;
    body_ = body;
    context_ = context;
    pending_.store(size_ - 1, std::memory_order_relaxed);
    generation_.fetch_add(1, std::memory_order_seq_cst);
    if (sleepers_.load(std::memory_order_seq_cst) > 0) {
      std::lock_guard<std::mutex> lock(mutex_);
      wake_.notify_all();
    }
    in_region = true;
    body(context, 0);
    in_region = false;
    if (!spin_until([&] { return pending_.load(std::memory_order_acquire) == 0; })) {
      std::unique_lock<std::mutex> lock(mutex_);
      done_.wait(lock, [&] { return pending_.load(std::memory_order_acquire) == 0; });
    }
    busy_.store(false, std::memory_order_release);
    return true;
  }

 private:
  void work(int thread, std::uint64_t seen) {
    in_region = true;
    for (;;) {
      auto fresh = [&] { return generation_.load(std::memory_order_acquire) != seen; };
      if (!spin_until([&] { return fresh() || stop_.load(std::memory_order_acquire); })) {
        std::unique_lock<std::mutex> lock(mutex_);
        sleepers_.fetch_add(1, std::memory_order_seq_cst);
        wake_.wait(lock, [&] { return fresh() || stop_; });
        sleepers_.fetch_sub(1, std::memory_order_seq_cst);
      }
      if (stop_.load(std::memory_order_acquire)) return;
      seen = generation_.load(std::memory_order_acquire);
      body_(context_, thread);
      if (pending_.fetch_sub(1, std::memory_order_acq_rel) == 1) {
        std::lock_guard<std::mutex> lock(mutex_);
        done_.notify_one();
      }
    }
  }

  int size_ = 1;
  std::vector<std::thread> workers_;
  std::mutex mutex_;
  std::condition_variable wake_, done_;
  std::atomic<bool> stop_{false};
  std::atomic<bool> busy_{false};
  std::atomic<std::uint64_t> generation_{0};
  std::atomic<int> pending_{0};
  std::atomic<int> sleepers_{0};
  void (*body_)(void*, int) = nullptr;
  void* context_ = nullptr;
};

Pool& pool() {
  static Pool instance;
  return instance;
}

}  // namespace

int threads() { return pool().size(); }

void set_threads(int count) { pool().resize(count); }

void run_parallel(void (*body)(void*, int), void* context) {
  Pool& p = pool();
  const int blas = openblas_get_num_threads();
  if (blas != 1) openblas_set_num_threads(1);
  if (p.size() == 1 || in_region || !p.try_run(body, context)) {
    const bool nested = in_region;
    in_region = true;
    for (int t = 0; t < p.size(); ++t) body(context, t);
    in_region = nested;
  }
  if (blas != 1) openblas_set_num_threads(blas);
}

}  // namespace softmoe::kernels
