#include <algorithm>
#include <sstream>

#include <fmt/format.h>

#include "softmoe/commands/specialize.hpp"
#include "softmoe/errors.hpp"

namespace softmoe {
namespace {

constexpr char kEveryK[] = "all";  // --k all: 1..n-1

int parse_positive(const std::string& text, const std::string& item) {
  std::size_t used = 0;
  long value = 0;
  try {
    value = std::stol(text, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (used != text.size() || text.empty())
    throw UsageError(fmt::format("--k: '{}' is not a number, a fraction like 1/8, or 'all'", item));
  return static_cast<int>(std::clamp(value, -1L, 1L << 30));
}

}  // namespace

std::vector<int> parse_k_list(const std::string& spec, int n) {
  std::vector<int> ks;
  std::stringstream stream(spec);
  std::string item;
  while (std::getline(stream, item, ',')) {
    if (item == kEveryK) {
      for (int k = 1; k < n; ++k) ks.push_back(k);
      continue;
    }
    const auto slash = item.find('/');
    int k = 0;
    if (slash == std::string::npos) {
      k = parse_positive(item, item);
    } else {
      const int numerator = parse_positive(item.substr(0, slash), item);
      const int denominator = parse_positive(item.substr(slash + 1), item);
      if (denominator <= 0 || numerator <= 0 || static_cast<long>(n) * numerator % denominator != 0)
        throw UsageError(fmt::format("--k: {} of {} experts is not a whole number of experts", item, n));
      k = static_cast<int>(static_cast<long>(n) * numerator / denominator);
    }
    if (k < 1 || k > n) throw UsageError(fmt::format("--k: k must be in 1..{} (the run has {} experts), got {}", n, n, item));
    ks.push_back(k);
  }
  if (ks.empty()) throw UsageError("--k: give at least one k");
  std::sort(ks.begin(), ks.end());
  ks.erase(std::unique(ks.begin(), ks.end()), ks.end());
  return ks;
}

}  // namespace softmoe
