#pragma once
// safetensors files (https://github.com/huggingface/safetensors), the checkpoint and fixture format.
// Layout:
//   [8 bytes]  N, little-endian u64: the header length
//   [N bytes]  JSON object {"__metadata__": {string: string}, NAME: {"dtype": "F32", "shape": [..],
//              "data_offsets": [begin, end]}, ...}, padded with spaces so that N is a multiple of 8
//   [rest]     the data region: raw little-endian, row-major tensors; [begin, end) is relative to its start
// softmoe writes tensors contiguously in the order given and adds the metadata key "softmoe.crc32":
// zlib's CRC-32 of the whole data region as 8 lowercase hex digits.
//
// Reading validates everything before any tensor is touched; every problem is a RunError whose message
// starts with the file path. Unused gaps between tensors are allowed; overlaps are not.
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

namespace softmoe {

inline constexpr char kChecksumKey[] = "softmoe.crc32";

// One tensor to write: `bytes` bytes of row-major, little-endian data at `data`.
// dtype is "F32", "F64", "I32" or "I64"; bytes must equal product(shape) * dtype size.
struct TensorView {
  std::string name;
  std::string dtype;
  std::vector<std::size_t> shape;
  const void* data = nullptr;
  std::size_t bytes = 0;
};

// Writes atomically (softmoe::atomic_write). Metadata gets kChecksumKey added (a caller's value for it
// is replaced). Invalid views (unknown dtype, size mismatch, empty or duplicate name, "__metadata__")
// throw std::invalid_argument; I/O failures throw RunError.
void write_safetensors(const std::filesystem::path& path, const std::vector<TensorView>& tensors,
                       const std::map<std::string, std::string>& metadata = {});

// The whole file image, as write_safetensors would write it (for tests and in-memory use).
std::string encode_safetensors(const std::vector<TensorView>& tensors,
                               std::map<std::string, std::string> metadata);

// zlib's CRC-32 of `bytes` bytes at `data`.
std::uint32_t crc32_of(const void* data, std::size_t bytes);

struct TensorInfo {
  std::string name;
  std::string dtype;  // any standard safetensors dtype: F64 F32 F16 BF16 I64 I32 I16 I8 U64 U32 U16 U8 BOOL
  std::vector<std::size_t> shape;  // [] is a scalar
  std::size_t begin = 0, end = 0;  // byte range within the data region
};

class SafetensorsFile {
 public:
  // Reads and validates the whole file. With require_checksum, a missing kChecksumKey is an error;
  // a present one is always verified.
  static SafetensorsFile read(const std::filesystem::path& path, bool require_checksum);
  // The same from a file image in memory; `source` replaces the path in error messages.
  static SafetensorsFile parse(std::string image, const std::string& source, bool require_checksum);

  const std::string& source() const { return source_; }
  const std::map<std::string, std::string>& metadata() const { return metadata_; }
  const std::vector<TensorInfo>& tensors() const { return tensors_; }  // in header order
  std::vector<std::string> names() const;
  bool contains(const std::string& name) const;
  // RunError "SOURCE: no tensor 'NAME'" when absent.
  const TensorInfo& tensor(const std::string& name) const;
  // The tensor's raw bytes (end - begin of them); not necessarily aligned for its dtype.
  const void* data(const TensorInfo& info) const;

  // Copies tensor `name` into out[product(expected_shape)] after checking its shape, converting
  // F32 <-> F64 for floating T and I32 <-> I64 for integer T (I64 values outside int32 throw).
  // T is float, double, std::int32_t or std::int64_t. Errors are RunErrors naming the tensor.
  template <class T>
  void copy_to(const std::string& name, const std::vector<std::size_t>& expected_shape, T* out) const;
  // The same, allocating: the tensor's values as a vector.
  template <class T>
  std::vector<T> values(const std::string& name, const std::vector<std::size_t>& expected_shape) const;

 private:
  std::string source_;
  std::string image_;            // the whole file
  std::size_t data_start_ = 0;  // offset of the data region in image_
  std::map<std::string, std::string> metadata_;
  std::vector<TensorInfo> tensors_;
};

// "[2, 3]"; "[]" for a scalar.
std::string shape_string(const std::vector<std::size_t>& shape);

}  // namespace softmoe
