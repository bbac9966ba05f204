#pragma once
// One flat parameter buffer and its gradient twin, with named, shaped entries. Models register their
// tensors first, then allocate once; optimisers and checkpoints see one contiguous array.
#include <cstddef>
#include <optional>
#include <string>
#include <vector>

#include "softmoe/tensor.hpp"

namespace softmoe {

struct ParamEntry {
  std::string name;
  std::vector<std::size_t> shape;
  std::size_t offset = 0;
  std::size_t size = 0;
};

template <class T>
class ParamBuffer {
 public:
  using Id = std::size_t;

  // Registers a tensor; only before allocate().
  Id add(std::string name, std::vector<std::size_t> shape);
  // Allocates values and gradients, all zero.
  void allocate();

  T* value(Id id) { return values_.data() + entries_[id].offset; }
  const T* value(Id id) const { return values_.data() + entries_[id].offset; }
  T* grad(Id id) { return grads_.data() + entries_[id].offset; }

  T* values() { return values_.data(); }
  const T* values() const { return values_.data(); }
  T* grads() { return grads_.data(); }
  const T* grads() const { return grads_.data(); }
  std::size_t size() const { return total_; }

  void zero_grad();

  const std::vector<ParamEntry>& entries() const { return entries_; }
  const ParamEntry& entry(Id id) const { return entries_[id]; }
  std::optional<Id> find(const std::string& name) const;

 private:
  std::vector<ParamEntry> entries_;
  std::size_t total_ = 0;
  bool allocated_ = false;
  Buffer<T> values_;
  Buffer<T> grads_;
};

extern template class ParamBuffer<float>;
extern template class ParamBuffer<double>;

}  // namespace softmoe
