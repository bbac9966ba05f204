#pragma once
// A readable reference Soft MoE, the oracle of the fast paths (tests only; no command uses it): the
// layer of softmoe.hpp and the expert subset selection of softmoe_selected.hpp / expert_selection.hpp in plain
// loops, one example at a time. Templated on the scalar T so that it runs in double and on a dual number
// (exact derivatives). Layouts as the fast code: phi [d, S], scale [1], w1 [n, d, h], b1 [n, h],
// w2 [n, h, d_out], b2 [n, d_out] (b1, b2 null without biases), x [B, m, d], y [B, m, d_out];
// slot t = e p + q is slot q of expert e.
#include <cmath>
#include <cstdint>
#include <vector>

#include "softmoe/layers/softmoe.hpp"

namespace softmoe::reference {

// Deliberate bugs, for tests that check that a comparison with the reference can fail: raw_combine (the
// combine weights are the raw logits, no softmax over slots), no_renormalize (`renormalize` is ignored: always
// the original C), ties_to_higher (top-k breaks ties towards the higher index).
enum class Mutation { none, raw_combine, no_renormalize, ties_to_higher };

template <class T>
T activate(T a, Activation activation) {
  using std::erf;
  if (activation == Activation::relu) return a > T(0) ? a : T(0);
  return T(0.5) * a * (T(1) + erf(a * T(M_SQRT1_2)));  // exact GELU
}

// v[j * stride], j < count = their softmax
template <class T>
void softmax(T* v, int count, int stride) {
  using std::exp;
  T max = v[0], sum = T(0);
  for (int j = 1; j < count; ++j) max = v[j * stride] > max ? v[j * stride] : max;
  for (int j = 0; j < count; ++j) sum += v[j * stride] = exp(v[j * stride] - max);
  for (int j = 0; j < count; ++j) v[j * stride] /= sum;
}

// ||v|| + eps of v[j * stride], j < count
template <class T>
T norm_plus_eps(const T* v, int count, int stride) {
  using std::sqrt;
  T sum = T(0);
  for (int j = 0; j < count; ++j) sum += v[j * stride] * v[j * stride];
  return sqrt(sum) + T(kNormEps);
}

// phi [d, S] -> phir [d, S]: phi (none), else scale * each column / (||column|| + eps) (router, all)
template <class T>
std::vector<T> router_weights(const SoftMoeTensors<T>& w, const SoftMoeShape& s) {
  const int d = s.dim, S = s.total_slots();
  std::vector<T> phir(w.phi, w.phi + d * S);
  for (int t = 0; s.normalize != Normalize::none && t < S; ++t) {
    const T norm = norm_plus_eps(w.phi + t, d, S);
    for (int k = 0; k < d; ++k) phir[k * S + t] = *w.scale * w.phi[k * S + t] / norm;
  }
  return phir;
}

// One example's router: xe [m, d], what the experts see; dispatch D, combine C [m, S].
template <class T>
struct Routed { std::vector<T> xe, dispatch, combine; };

// x [m, d], phir [d, S] -> L = Xr Phir [m, S], D = softmax over tokens of L, C = softmax over slots of L
template <class T>
Routed<T> route(const T* x, const std::vector<T>& phir, const SoftMoeShape& s, Mutation mutation) {
  const int m = s.tokens, d = s.dim, S = s.total_slots();
  std::vector<T> xr(x, x + m * d);  // the router's view of the tokens: each / (||token|| + eps) (router, all)
  for (int i = 0; s.normalize != Normalize::none && i < m; ++i) {
    const T norm = norm_plus_eps(x + i * d, d, 1);
    for (int k = 0; k < d; ++k) xr[i * d + k] = x[i * d + k] / norm;
  }
  std::vector<T> logits(m * S, T(0));
  for (int i = 0; i < m; ++i)
    for (int t = 0; t < S; ++t)
      for (int k = 0; k < d; ++k) logits[i * S + t] += xr[i * d + k] * phir[k * S + t];
  Routed<T> r{s.normalize == Normalize::all ? xr : std::vector<T>(x, x + m * d), logits, logits};
  for (int t = 0; t < S; ++t) softmax(r.dispatch.data() + t, m, S);  // each column sums to 1
  for (int i = 0; mutation != Mutation::raw_combine && i < m; ++i) softmax(r.combine.data() + i * S, S, 1);
  return r;
}

// Expert e on one slot input in [d] -> [d_out]: Linear(d -> h) -> activation -> Linear(h -> d_out)
template <class T>
std::vector<T> expert(int e, const T* in, const SoftMoeTensors<T>& w, const SoftMoeShape& s) {
  const int d = s.dim, h = s.hidden, d_out = s.dim_out;
  std::vector<T> hidden(h), out(d_out);
  for (int j = 0; j < h; ++j) {
    T a = w.b1 ? w.b1[e * h + j] : T(0);
    for (int k = 0; k < d; ++k) a += in[k] * w.w1[(e * d + k) * h + j];
    hidden[j] = activate(a, s.activation);
  }
  for (int o = 0; o < d_out; ++o) {
    T a = w.b2 ? w.b2[e * d_out + o] : T(0);
    for (int j = 0; j < h; ++j) a += hidden[j] * w.w2[(e * h + j) * d_out + o];
    out[o] = a;
  }
  return out;
}

// x [B, m, d] -> y [B, m, d_out]. keep [B, n] (null: every expert): only kept experts run, dropped ones
// contribute zero; combined with C, or with renormalize with C over the kept slots (the combine softmax
// over kept slots only: C[i, t] / sum of C[i, kept slots]).
template <class T>
void forward(T* y, const T* x, const SoftMoeTensors<T>& w, const SoftMoeShape& s, int B,
             const std::uint8_t* keep = nullptr, bool renormalize = false, Mutation mutation = Mutation::none) {
  const int m = s.tokens, d = s.dim, n = s.experts, p = s.slots, S = s.total_slots(), d_out = s.dim_out;
  const std::vector<T> phir = router_weights(w, s);
  for (int b = 0; b < B; ++b) {
    const Routed<T> r = route(x + b * m * d, phir, s, mutation);
    auto kept = [&](int e) { return keep == nullptr || keep[b * n + e] != 0; };
    std::vector<T> kept_mass(m, T(1));  // the combine weight each token puts on kept slots
    for (int i = 0; renormalize && mutation != Mutation::no_renormalize && i < m; ++i) {
      kept_mass[i] = T(0);
      for (int t = 0; t < S; ++t) kept_mass[i] += kept(t / p) ? r.combine[i * S + t] : T(0);
    }
    T* out = y + b * m * d_out;
    for (int j = 0; j < m * d_out; ++j) out[j] = T(0);
    for (int t = 0; t < S; ++t) {
      if (!kept(t / p)) continue;
      std::vector<T> slot_in(d, T(0));  // sum_i D[i, t] xe[i]
      for (int i = 0; i < m; ++i)
        for (int k = 0; k < d; ++k) slot_in[k] += r.dispatch[i * S + t] * r.xe[i * d + k];
      const std::vector<T> slot_out = expert(t / p, slot_in.data(), w, s);
      for (int i = 0; i < m; ++i)
        for (int o = 0; o < d_out; ++o) out[i * d_out + o] += r.combine[i * S + t] / kept_mass[i] * slot_out[o];
    }
  }
}

// scores [B, n]: score[b, e] = sum over tokens i and e's slots t of the full, unmasked C[b, i, t]
template <class T>
void expert_scores(T* scores, const T* x, const SoftMoeTensors<T>& w, const SoftMoeShape& s, int B,
                   Mutation mutation = Mutation::none) {
  const int m = s.tokens, d = s.dim, n = s.experts, S = s.total_slots();
  const std::vector<T> phir = router_weights(w, s);
  for (int b = 0; b < B; ++b) {
    const Routed<T> r = route(x + b * m * d, phir, s, mutation);
    for (int e = 0; e < n; ++e) scores[b * n + e] = T(0);
    for (int i = 0; i < m; ++i)
      for (int t = 0; t < S; ++t) scores[b * n + t / s.slots] += r.combine[i * S + t];
  }
}

// scores [B, n] -> keep [B, n]: expert e is kept when fewer than k experts rank above it (a higher score,
// or an equal score and a lower index)
template <class T>
void top_k(std::uint8_t* keep, const T* scores, int B, int n, int k, Mutation mutation = Mutation::none) {
  for (int b = 0; b < B; ++b)
    for (int e = 0; e < n; ++e) {
      int above = 0;
      for (int f = 0; f < n; ++f) {
        const bool tie_wins = mutation == Mutation::ties_to_higher ? f > e : f < e;
        above += scores[b * n + f] > scores[b * n + e] || (scores[b * n + f] == scores[b * n + e] && tie_wins);
      }
      keep[b * n + e] = above < k;
    }
}

}  // namespace softmoe::reference
