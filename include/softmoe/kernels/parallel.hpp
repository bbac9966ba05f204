#pragma once
// The engine's own small pool of persistent threads, for the hand-written loops and for running many
// small single-threaded GEMMs side by side. kernels::set_blas_threads(t) sizes it to t (the caller is
// thread 0, so t - 1 workers). Work is split statically by thread count, never with atomics on data,
// so results are deterministic for a given count. While a region runs, OpenBLAS is set to one thread
// (its own pool would otherwise fight ours for the cores); outside regions it has the configured count.
// A region allocates nothing. A region started from inside a region runs on the calling thread alone.
#include <type_traits>

namespace softmoe::kernels {

int threads();               // size of the pool, caller included (1 = everything inline)
void set_threads(int count); // called by set_blas_threads; not from inside a region

// body(context, t) for every t in [0, threads()), t = 0 on the calling thread; returns when all are done.
void run_parallel(void (*body)(void* context, int thread), void* context);

// f(int thread) on every thread of the pool.
template <class F>
void parallel(F&& f) {
  using Fn = std::remove_reference_t<F>;
  run_parallel([](void* context, int thread) { (*static_cast<Fn*>(context))(thread); }, &f);
}

struct Range {
  long begin, end;
};

// Part `part` of `parts` nearly equal contiguous pieces of [0, count).
inline Range split(long count, int part, int parts) {
  const long base = count / parts, extra = count % parts;
  const long begin = part * base + (part < extra ? part : extra);
  return {begin, begin + base + (part < extra ? 1 : 0)};
}

// f(begin, end) on one contiguous piece of [0, count) per thread. Runs inline when the pool has one
// thread or count < 2 * min_per_thread (too little work to share).
template <class F>
void parallel_for(long count, long min_per_thread, F&& f) {
  const int t = threads();
  if (t == 1 || count < 2 * min_per_thread) {
    if (count > 0) f(0L, count);
    return;
  }
  parallel([&](int thread) {
    const Range r = split(count, thread, t);
    if (r.begin < r.end) f(r.begin, r.end);
  });
}

}  // namespace softmoe::kernels
