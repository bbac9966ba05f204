#pragma once
// Indices of the k largest of n values v[0], v[stride], ..., descending, ties to the lower index.
// scratch holds n ints. O(n k) for the small k of routers, O(n log n) beyond.
#include <algorithm>
#include <numeric>

namespace softmoe {

template <class T>
void top_k_descending(int* out, const T* v, long stride, int n, int k, int* scratch) {
  std::iota(scratch, scratch + n, 0);
  const auto better = [&](int a, int b) { return v[a * stride] > v[b * stride] || (v[a * stride] == v[b * stride] && a < b); };
  std::partial_sort(scratch, scratch + k, scratch + n, better);
  std::copy(scratch, scratch + k, out);
}

}  // namespace softmoe
