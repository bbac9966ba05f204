// The sparse routers' selection: which (token, expert) pairs the experts run on, packed by expert.
#include <algorithm>
#include <cmath>

#include "softmoe/layers/sparse_moe.hpp"
#include "softmoe/layers/top_k.hpp"

namespace softmoe {
namespace {

// Tokens Choice over the group's tokens [first, first + S): fills kept and counts.
template <class T>
void tokens_choice_group(SparseMoeActivations<T>& act, long first, int S, RoutingCounts& counts) {
  const SparseMoeShape& s = act.shape;
  const int n = s.experts, K = s.k, C = sparse_capacity(s, S);
  const T* gates = act.gates.data();
  int* choice = act.choice.data();
  for (int t = 0; t < S; ++t) {
    const long token = first + t;
    top_k_descending(choice + token * K, gates + token * n, 1, n, K, act.candidates.data());
  }
  int* order = act.order.data();
  for (int t = 0; t < S; ++t) order[t] = t;
  if (s.bpr)  // by top-1 gate, descending, ties by position (std::sort: stable_sort would allocate)
    std::sort(order, order + S, [&](int a, int b) {
      const T ga = gates[(first + a) * n + choice[(first + a) * K]], gb = gates[(first + b) * n + choice[(first + b) * K]];
      return ga > gb || (ga == gb && a < b);
    });
  int* count = act.count.data();
  std::fill(count, count + n, 0);
  for (int rank = 0; rank < K; ++rank)
    for (int i = 0; i < S; ++i) {
      const long token = first + order[i];
      const int e = choice[token * K + rank];
      if (count[e] < C) {
        ++count[e];
        act.kept[token * n + e] = 1;
      } else {
        ++counts.dropped;
      }
    }
  counts.choices += static_cast<long>(S) * K;
  counts.capacity += static_cast<long>(C) * n;
}

// Experts Choice: expert e keeps the C tokens of the group with the largest gates[:, e].
template <class T>
void experts_choice_group(SparseMoeActivations<T>& act, long first, int S, RoutingCounts& counts) {
  const SparseMoeShape& s = act.shape;
  const int n = s.experts, C = sparse_capacity(s, S);
  int* best = act.order.data();
  for (int e = 0; e < n; ++e) {
    top_k_descending(best, act.gates.data() + first * n + e, n, S, C, act.candidates.data());
    for (int i = 0; i < C; ++i) act.kept[(first + best[i]) * n + e] = 1;
    act.count[e] = C;
  }
  for (int t = 0; t < S; ++t) {
    const std::uint8_t* row = act.kept.data() + (first + t) * n;
    if (std::find(row, row + n, std::uint8_t{1}) == row + n) ++counts.dropped;
  }
  counts.choices += S;
  counts.capacity += static_cast<long>(C) * n;
}

}  // namespace

int experts_choice_rounded_capacity(const SparseMoeShape& s, int S) {
  return static_cast<int>(std::floor(S * s.capacity_factor / s.experts + 0.5));
}

int sparse_capacity(const SparseMoeShape& s, int S) {
  switch (s.routing) {
    case SparseRouting::tokens_choice:
      return static_cast<int>(std::ceil(static_cast<double>(S) * s.k * s.capacity_factor / s.experts - 1e-9));
    case SparseRouting::experts_choice:
      return std::min(S, std::max(1, experts_choice_rounded_capacity(s, S)));
    case SparseRouting::dense:
      return S;
  }
  return S;
}

template <class T>
void sparse_select(SparseMoeActivations<T>& act, int B) {
  const SparseMoeShape& s = act.shape;
  const int n = s.experts, m = s.tokens;
  const long tokens = static_cast<long>(B) * m;
  std::fill(act.kept.begin(), act.kept.begin() + tokens * n, std::uint8_t{0});
  RoutingCounts counts;
  counts.tokens = tokens;
  counts.forward_calls = 1;
  long* offset = act.offset.data();
  std::fill(offset, offset + n + 1, 0L);
  for (int first_example = 0; first_example < B; first_example += s.group_images) {
    const int examples = std::min(s.group_images, B - first_example);
    const long first = static_cast<long>(first_example) * m;
    const int S = s.group_tokens(examples);
    if (s.routing == SparseRouting::tokens_choice) {
      tokens_choice_group(act, first, S, counts);
    } else if (s.routing == SparseRouting::experts_choice) {
      experts_choice_group(act, first, S, counts);
    } else {
      std::fill(act.kept.begin() + first, act.kept.begin() + first + S, std::uint8_t{1});
      act.count[0] = S;
      counts.choices += S;
      counts.capacity += S;
    }
    ++counts.groups;
    for (int e = 0; e < n; ++e) {
      offset[e + 1] += act.count[e];
      counts.min_per_expert = counts.min_per_expert < 0 ? act.count[e] : std::min<long>(counts.min_per_expert, act.count[e]);
      counts.max_per_expert = std::max<long>(counts.max_per_expert, act.count[e]);
    }
  }
  for (int e = 0; e < n; ++e) offset[e + 1] += offset[e];
  counts.kept = offset[n];
  // pack: expert e's rows in token order
  long* cursor = act.cursor.data();
  std::copy(offset, offset + n, cursor);
  for (long token = 0; token < tokens; ++token)
    for (int e = 0; e < n; ++e)
      if (act.kept[token * n + e]) {
        const long row = cursor[e]++;
        act.row_token[row] = static_cast<int>(token);
        act.row_gate[row] = act.gates[token * n + e];
      }
  act.last = counts;
}

template void sparse_select<float>(SparseMoeActivations<float>&, int);
template void sparse_select<double>(SparseMoeActivations<double>&, int);

}  // namespace softmoe
