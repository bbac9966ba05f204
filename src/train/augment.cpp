#include "softmoe/train/augment.hpp"

#include <algorithm>
#include <cstring>

#include "softmoe/rng.hpp"

namespace softmoe {

void shift_image(float* image, int rows, int cols, int dr, int dc, float fill) {
  // image [rows, cols]. Row r takes row r - dr, visited so that every source row is read before it is
  // overwritten: bottom-up when moving down, top-down otherwise.
  const int width = std::max(0, cols - std::abs(dc));
  for (int step = 0; step < rows; ++step) {
    const int r = dr > 0 ? rows - 1 - step : step;
    const int source = r - dr;
    float* dst = image + static_cast<long>(r) * cols;
    if (source < 0 || source >= rows || width == 0) {
      std::fill(dst, dst + cols, fill);
      continue;
    }
    const float* src = image + static_cast<long>(source) * cols;
    // new[c] = old[c - dc]: columns [max(dc, 0), max(dc, 0) + width) come from [max(-dc, 0), ...)
    std::memmove(dst + std::max(dc, 0), src + std::max(-dc, 0), static_cast<std::size_t>(width) * sizeof(float));
    if (dc > 0) std::fill(dst, dst + dc, fill);
    if (dc < 0) std::fill(dst + cols + dc, dst + cols, fill);
  }
}

void random_shift(float* images, int B, int rows, int cols, int max_shift, Rng& rng, float fill) {
  if (max_shift <= 0) return;
  const std::uint64_t choices = 2 * static_cast<std::uint64_t>(max_shift) + 1;
  for (int b = 0; b < B; ++b) {
    const int dr = static_cast<int>(rng.below(choices)) - max_shift;
    const int dc = static_cast<int>(rng.below(choices)) - max_shift;
    shift_image(images + static_cast<long>(b) * rows * cols, rows, cols, dr, dc, fill);
  }
}

}  // namespace softmoe
