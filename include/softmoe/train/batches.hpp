#pragma once
// Copying the rows of a mini-batch out of a dataset, by index.
#include <cstddef>
#include <cstdint>
#include <cstring>

namespace softmoe {

// dst [count, row] = src[indices[first + j]] for j < count; src [*, row]
template <class T>
void gather_rows(T* dst, const T* src, const std::int32_t* indices, int first, int count, std::size_t row) {
  for (int j = 0; j < count; ++j)
    std::memcpy(dst + static_cast<std::size_t>(j) * row,
                src + static_cast<std::size_t>(indices[first + j]) * row, row * sizeof(T));
}

}  // namespace softmoe
