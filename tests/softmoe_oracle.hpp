#pragma once
// The reference Soft MoE (layers/reference/soft_moe_reference.hpp), in double, as the oracle of the fast
// paths: each function below runs one fast path and the reference on the same parameters and inputs and
// returns how far apart they are, ||fast - reference|| / ||reference||. The reference can be mutated
// (a deliberate bug), so that test_softmoe_oracle_mutations.cpp can check these comparisons fail.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <numeric>
#include <string>
#include <vector>

#include "dual.hpp"
#include "relative_error.hpp"
#include "softmoe/kernels/gemm.hpp"
#include "softmoe/layers/reference/soft_moe_reference.hpp"
#include "softmoe/layers/softmoe.hpp"
#include "softmoe/params.hpp"
#include "softmoe/rng.hpp"
#include "softmoe/layers/softmoe_selected.hpp"
#include "softmoe/layers/expert_selection.hpp"

namespace softmoe::test {

using reference::Mutation;

// Tolerances (relative, norm-wise). The float paths against the double reference: float rounds at 6e-8,
// and sums over up to 150 terms, exps and normalisations make that a measured 2e-7 for outputs and scores
// and 3e-6 for gradients (a gradient through a softmax is a difference of close terms), so 1e-4 keeps a
// margin of 30x over rounding while a real bug (a wrong or missing term or factor) errs by 1e-2 and more
// (the mutations: 0.9 and up). The double paths differ from the reference only in the order of their sums
// (measured 1e-14): 1e-12.
inline constexpr double kFloatTolerance = 1e-4;
inline constexpr double kDoubleTolerance = 1e-12;

// Sets the engine's thread pool (and OpenBLAS's) for the object's lifetime, then back to one thread.
struct Threads {
  explicit Threads(int count) { kernels::set_blas_threads(count); }
  ~Threads() { kernels::set_blas_threads(1); }
};

inline SoftMoeShape make_shape(int m, int d, int n, int p, int h, int d_out, Normalize normalize, bool bias,
                               Activation activation) {
  SoftMoeShape s;
  s.tokens = m, s.dim = d, s.experts = n, s.slots = p, s.hidden = h, s.dim_out = d_out;
  s.normalize = normalize, s.expert_bias = bias, s.activation = activation;
  return s;
}

// A fast training pass to compare: shape, batch, engine threads, and whether forward stores the slot tensors
// (off in training: then backward recomputes slot outputs for h < 16).
struct Case {
  SoftMoeShape shape;
  int B = 4;
  int threads = 1;
  bool store_slots = false;
};

// The layer's tensors inside any array laid out as `params` (its values, its gradients, or a copy in another
// scalar type).
template <class T, class F>
SoftMoeTensors<T> tensors_in(T* base, const ParamBuffer<F>& params, const SoftMoeParamIds& ids, const SoftMoeShape& s) {
  auto at = [&](std::size_t id) { return base + params.entry(id).offset; };
  return {at(ids.phi), at(ids.scale), at(ids.w1), s.expert_bias ? at(ids.b1) : nullptr, at(ids.w2),
          s.expert_bias ? at(ids.b2) : nullptr};
}

// Parameters in the fast path's scalar F (initialised as training does, scale away from 1), input x, and
// the weights r of the loss sum(y * r).
template <class F>
struct Layer {
  SoftMoeShape shape;
  int B;
  ParamBuffer<F> params;
  SoftMoeParamIds ids;
  std::vector<F> x, r;

  Layer(const SoftMoeShape& s, int batch, std::uint64_t seed = 3) : shape(s), B(batch), ids(softmoe_register(params, s)) {
    params.allocate();
    Rng rng(seed, Stream::init);
    softmoe_init(ids.values(params, shape), shape, PhiInit::normal, rng);
    *params.value(ids.scale) = F(1.3);
    for (long i = 0; i < static_cast<long>(B) * s.tokens * s.dim; ++i) x.push_back(static_cast<F>(rng.normal()));
    for (long i = 0; i < static_cast<long>(B) * s.tokens * s.dim_out; ++i) r.push_back(static_cast<F>(rng.normal()));
  }
  SoftMoeTensors<F> w() { return ids.values(params, shape); }
  std::vector<double> params_in_double() const { return {params.values(), params.values() + params.size()}; }
};

// The fast training forward (softmoe_forward<F>) against the reference.
template <class F>
double forward_error(const Case& c, Mutation mutation = Mutation::none) {
  Threads pool(c.threads);
  Layer<F> layer(c.shape, c.B);
  SoftMoeActivations<F> act(c.shape, c.B);
  act.store_slots = c.store_slots;
  std::vector<F> y(layer.r.size());
  softmoe_forward(y.data(), act, layer.x.data(), layer.w(), c.shape, c.B);

  std::vector<double> p = layer.params_in_double(), x(layer.x.begin(), layer.x.end()), expected(y.size());
  reference::forward(expected.data(), x.data(), tensors_in(p.data(), layer.params, layer.ids, c.shape), c.shape, c.B,
                     nullptr, false, mutation);
  return relative_error(y.data(), expected);
}

// The worst tensor of a backward comparison.
struct BackwardError {
  double error = 0;
  std::string tensor;
};

// The fast training backward (softmoe_backward<F>: every parameter gradient and the input gradient) against
// exact derivatives of the reference. For the loss sum(y * r), the reference run on dual numbers with
// tangents v gives the directional derivative along v, which must equal <fast gradient, v>. For each tensor
// (every parameter, and x), `directions` random directions inside that tensor, or with directions = 0 each
// of its basis directions (the whole gradient). Returns the tensor with the largest relative error.
template <class F>
BackwardError backward_error(const Case& c, int directions, Mutation mutation = Mutation::none) {
  Threads pool(c.threads);
  Layer<F> layer(c.shape, c.B);
  SoftMoeActivations<F> act(c.shape, c.B);
  act.store_slots = c.store_slots;
  std::vector<F> y(layer.r.size()), dx(layer.x.size(), F(0));
  softmoe_forward(y.data(), act, layer.x.data(), layer.w(), c.shape, c.B);
  layer.params.zero_grad();
  softmoe_backward(dx.data(), layer.ids.grads(layer.params, c.shape), layer.r.data(), act, layer.x.data(), layer.w(),
                   c.shape, c.B);

  struct Tensor {
    std::string name;
    std::size_t offset, size;  // in the concatenation [params, x]
  };
  std::vector<Tensor> tensors;
  for (const auto& entry : layer.params.entries()) tensors.push_back({entry.name, entry.offset, entry.size});
  tensors.push_back({"x", layer.params.size(), layer.x.size()});
  std::vector<double> values = layer.params_in_double(), gradient(layer.params.grads(), layer.params.grads() + layer.params.size());
  values.insert(values.end(), layer.x.begin(), layer.x.end());
  gradient.insert(gradient.end(), dx.begin(), dx.end());

  Rng rng(17, Stream::test_data);
  std::vector<Dual> point(values.begin(), values.end()), out(y.size());
  std::vector<std::vector<double>> fast(tensors.size()), exact(tensors.size());
  for (std::size_t ti = 0; ti < tensors.size(); ++ti) {
    const Tensor& t = tensors[ti];
    const std::size_t count = directions == 0 ? t.size : static_cast<std::size_t>(directions);
    fast[ti].assign(count, 0.0);
    exact[ti].assign(count, 0.0);
    for (std::size_t j = 0; j < count; ++j) {
      for (std::size_t i = 0; i < t.size; ++i) {
        const double v = directions == 0 ? (i == j ? 1.0 : 0.0) : rng.normal();
        point[t.offset + i].tangent = v;
        fast[ti][j] += gradient[t.offset + i] * v;
      }
      reference::forward(out.data(), point.data() + layer.params.size(),
                         tensors_in(point.data(), layer.params, layer.ids, c.shape), c.shape, c.B, nullptr, false,
                         mutation);
      for (std::size_t i = 0; i < out.size(); ++i) exact[ti][j] += out[i].tangent * static_cast<double>(layer.r[i]);
    }
    for (std::size_t i = 0; i < t.size; ++i) point[t.offset + i].tangent = 0;
  }
  // ||fast - exact|| / ||exact|| per tensor, the denominator at least 1% of the largest tensor's: a gradient
  // that cancels to nearly nothing is judged at the precision of its terms (router.scale's did, 5e4-fold:
  // terms of 1.5 summing to 2.8e-5, which float gets to 2e-9, a relative 7e-5, as float is expected to).
  double largest = 0;
  for (const auto& e : exact) largest = std::max(largest, std::sqrt(std::inner_product(e.begin(), e.end(), e.begin(), 0.0)));
  BackwardError worst;
  for (std::size_t ti = 0; ti < tensors.size(); ++ti) {
    double diff = 0, norm = 0;
    for (std::size_t j = 0; j < exact[ti].size(); ++j) {
      diff += (fast[ti][j] - exact[ti][j]) * (fast[ti][j] - exact[ti][j]);
      norm += exact[ti][j] * exact[ti][j];
    }
    const double error = std::sqrt(diff) / std::max({std::sqrt(norm), 1e-2 * largest, 1e-300});
    if (error >= worst.error) worst = {error, tensors[ti].name};
  }
  return worst;
}

// An inference comparison: the shape (h <= 8 runs the narrow path, h > 8 the grouped one), batch, threads, k.
struct SelectionCase {
  SoftMoeShape shape;
  int B = 4;
  int threads = 1;
  int k = 2;
};

struct SelectionErrors {
  double scores = 0;          // route_batch's scores
  int mask_mismatches = 0;    // keep_top_k against the reference's top-k of the same scores
  int random_wrong_rows = 0;  // keep_random rows that do not keep exactly k experts
  double top_k[2] = {0, 0};   // run_kept_experts on the top-k mask, original / renormalised combine
  double random[2] = {0, 0};  // ... on a keep_random mask
};

// route_batch + keep_top_k / keep_random + run_kept_experts against the reference's scores, top-k and
// forward on the same keep mask.
inline SelectionErrors selection_errors(const SelectionCase& c, Mutation mutation = Mutation::none) {
  const SoftMoeShape& s = c.shape;
  const int n = s.experts;
  Threads pool(c.threads);
  Layer<float> layer(s, c.B, 5);
  std::vector<double> p = layer.params_in_double(), x(layer.x.begin(), layer.x.end());
  const SoftMoeTensors<double> w = tensors_in(p.data(), layer.params, layer.ids, s);
  SelectionWorkspace ws(s, c.B);
  route_batch(ws, layer.x.data(), layer.w(), s, c.B);

  SelectionErrors errors;
  std::vector<double> scores(static_cast<std::size_t>(c.B) * n);
  reference::expert_scores(scores.data(), x.data(), w, s, c.B, mutation);
  errors.scores = relative_error(ws.scores.data(), scores);
  // top-k of the fast path's own scores, so that near-ties in float cannot flip the mask
  const std::vector<double> fast_scores(ws.scores.data(), ws.scores.data() + scores.size());
  std::vector<std::uint8_t> keep(scores.size());
  reference::top_k(keep.data(), fast_scores.data(), c.B, n, c.k, mutation);
  keep_top_k(ws.keep.data(), ws.scores.data(), c.B, n, c.k);
  for (std::size_t i = 0; i < keep.size(); ++i) errors.mask_mismatches += keep[i] != ws.keep[i];

  std::vector<float> y(layer.r.size());
  std::vector<double> expected(y.size());
  for (double* out : {errors.top_k, errors.random}) {
    if (out == errors.random) {
      Rng rng(23, Stream::selection);
      keep_random(ws.keep.data(), c.B, n, c.k, rng);
      for (int b = 0; b < c.B; ++b)
        errors.random_wrong_rows += std::count(ws.keep.begin() + b * n, ws.keep.begin() + (b + 1) * n, 1) != c.k;
    }
    for (bool renormalize : {false, true}) {
      run_kept_experts(y.data(), ws, layer.x.data(), layer.w(), s, c.B, renormalize, nullptr);
      reference::forward(expected.data(), x.data(), w, s, c.B, ws.keep.data(), renormalize, mutation);
      out[renormalize] = relative_error(y.data(), expected);
    }
  }
  return errors;
}

}  // namespace softmoe::test
