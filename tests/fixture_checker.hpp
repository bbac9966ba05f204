#pragma once
// Reading a PyTorch fixture (tests/reference/*.py, float64 autograd) and comparing with it: every output
// and gradient must agree norm-wise, ||ours - theirs|| / ||theirs||, and every tensor of the file must be
// used, so nothing the engine lacks is ignored.
#include <doctest/doctest.h>

#include <algorithm>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

#include "relative_error.hpp"
#include "softmoe/io/safetensors.hpp"
#include "softmoe/params.hpp"

namespace softmoe::test {

constexpr double kDoubleTolerance = 1e-9;
constexpr double kFloatTolerance = 1e-5;

inline SafetensorsFile fixture(const std::string& name) {
  return SafetensorsFile::read(std::string(SOFTMOE_SOURCE_DIR "/tests/reference/fixtures/") + name + ".safetensors",
                               /*require_checksum=*/true);
}

inline const std::string& meta(const SafetensorsFile& f, const std::string& key) {
  const auto it = f.metadata().find(key);
  if (it == f.metadata().end()) throw std::runtime_error(f.source() + ": no metadata " + key);
  return it->second;
}
inline int meta_int(const SafetensorsFile& f, const std::string& key) { return std::stoi(meta(f, key)); }
inline bool meta_bool(const SafetensorsFile& f, const std::string& key) { return meta(f, key) == "true"; }

// ||a - b|| / ||b||; ||a|| when b is zero (a gradient that must vanish).


// Compares ours[product(shape)] with fixture tensor `name`, and records the name as checked.
// With a negative tolerance nothing is asserted; `worst` still records the largest error.
struct Checker {
  const SafetensorsFile& file;
  double tolerance;
  std::set<std::string> used;
  double worst = 0;

  template <class T>
  std::vector<T> input(const std::string& name, const std::vector<std::size_t>& shape) {
    used.insert(name);
    return file.values<T>(name, shape);
  }

  template <class T>
  void expect(const std::string& name, const T* ours, const std::vector<std::size_t>& shape) {
    used.insert(name);
    CAPTURE(file.source());
    CAPTURE(name);
    const double error = relative_error(ours, file.values<double>(name, shape));
    CAPTURE(error);
    worst = std::max(worst, error);
    if (tolerance >= 0) CHECK(error <= tolerance);
  }

  // Loads every registered parameter by name (shapes must match PyTorch's) and zeroes the gradients.
  template <class T>
  void load_params(ParamBuffer<T>& params) {
    for (const auto& e : params.entries()) {
      file.copy_to(e.name, e.shape, params.values() + e.offset);
      used.insert(e.name);
    }
    params.zero_grad();
  }

  template <class T>
  void expect_grads(ParamBuffer<T>& params) {
    for (const auto& e : params.entries()) expect("grad." + e.name, params.grads() + e.offset, e.shape);
  }

  // Every tensor of the fixture was either an input or compared: nothing the engine lacks is ignored.
  void all_used() const {
    for (const auto& name : file.names()) {
      CAPTURE(name);
      CHECK(used.count(name) == 1);
    }
  }
};

inline std::size_t sz(int v) { return static_cast<std::size_t>(v); }

}  // namespace softmoe::test
