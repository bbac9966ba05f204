#pragma once
// Readers for IDX files of unsigned bytes (the MNIST format), gzip-compressed or not. Every check
// failure throws RunError with one line "PATH: what is wrong": missing or unreadable file, corrupt or
// cut-off gzip stream, wrong magic, element type or rank, implausible dimensions, data shorter or
// longer than the header says, label out of range.
#include <cstdint>
#include <string>
#include <vector>

namespace softmoe {

// An image file: magic 0x00000803, dims [count, rows, cols].
struct IdxImages {
  std::vector<std::uint8_t> pixels;  // [count, rows, cols], row-major
  int count = 0, rows = 0, cols = 0;
};

// Largest number of elements a file may declare (2^31); larger headers are refused before allocating.
inline constexpr std::uint64_t kIdxMaxElements = std::uint64_t(1) << 31;

// Reads an image file. rows and cols must be positive.
IdxImages read_idx_images(const std::string& path);

// Reads a label file (magic 0x00000801, dims [count]); each label must lie in [0, classes).
std::vector<std::int32_t> read_idx_labels(const std::string& path, int classes);

}  // namespace softmoe
