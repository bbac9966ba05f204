#pragma once
// Storage for the engine: flat, contiguous, row-major float buffers. Kernels take raw pointers and
// state their shapes; xtensor owns the memory and gives shaped views where a caller wants them.
#include <cstddef>
#include <xtensor/xadapt.hpp>
#include <xtensor/xtensor.hpp>

namespace softmoe {

template <class T>
using Buffer = xt::xtensor<T, 1>;

template <class T>
Buffer<T> make_buffer(std::size_t size) {
  return Buffer<T>(std::array<std::size_t, 1>{size}, T(0));
}

// A non-owning 2-D view [rows, cols] over contiguous memory.
template <class T>
auto matrix_view(T* data, std::size_t rows, std::size_t cols) {
  return xt::adapt(data, rows * cols, xt::no_ownership(), std::array<std::size_t, 2>{rows, cols});
}

}  // namespace softmoe
