// `train --train-size`'s stratified subsets and `--val-size`'s hold-out: quotas, determinism, counts.
#include <doctest/doctest.h>

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <numeric>
#include <stdexcept>
#include <vector>

#include "softmoe/data/image_dataset.hpp"
#include "softmoe/data/subset.hpp"

using namespace softmoe;

namespace {

std::vector<int> counts_of(const std::vector<std::int32_t>& labels, const std::vector<std::int32_t>& indices,
                           int classes) {
  std::vector<int> counts(static_cast<std::size_t>(classes), 0);
  for (std::int32_t i : indices) ++counts[static_cast<std::size_t>(labels[static_cast<std::size_t>(i)])];
  return counts;
}

const ImageDataset& mnist_train() {
  static const ImageSplits splits =
      load_image_dataset(Dataset::mnist, (std::filesystem::path(SOFTMOE_SOURCE_DIR) / "data" / "mnist").string());
  return splits.train;
}

}  // namespace

TEST_CASE("stratified quotas: N/10 each, the remainder to the lowest classes, water-filling when a class runs out") {
  CHECK(stratified_quotas({5, 5, 5}, 7) == std::vector<int>{3, 2, 2});
  CHECK(stratified_quotas({5, 5, 5}, 15) == std::vector<int>{5, 5, 5});
  CHECK(stratified_quotas({1, 10, 10}, 9) == std::vector<int>{1, 4, 4});   // class 0 short by 2: 1 more each
  CHECK(stratified_quotas({1, 10, 10}, 10) == std::vector<int>{1, 5, 4});  // and the odd one to class 1
  CHECK(stratified_quotas({0, 3, 3}, 4) == std::vector<int>{0, 2, 2});
  CHECK(stratified_quotas({2, 3}, 1) == std::vector<int>{1, 0});
  CHECK_THROWS_AS(stratified_quotas({2, 3}, 6), std::invalid_argument);
  CHECK_THROWS_AS(stratified_quotas({2, 3}, 0), std::invalid_argument);
}

TEST_CASE("stratified subsets of MNIST: same seed same subset, other seed another, counts within one of N/10") {
  const ImageDataset& train = mnist_train();
  for (int size : {1, 9, 500, 1000, 4321, 16000, 50000}) {
    CAPTURE(size);
    const auto a = stratified_subset(train.labels, 10, size, 0);
    CHECK(static_cast<int>(a.size()) == size);
    CHECK(std::is_sorted(a.begin(), a.end()));
    CHECK(std::adjacent_find(a.begin(), a.end()) == a.end());  // no image twice
    CHECK(stratified_subset(train.labels, 10, size, 0) == a);
    if (size >= 9) CHECK(stratified_subset(train.labels, 10, size, 1) != a);
    for (int count : counts_of(train.labels, a, 10)) CHECK(std::abs(count - size / 10) <= 1);
  }
}

TEST_CASE("stratified subsets above 10 x the smallest class: the short class whole, the rest even") {
  const ImageDataset& train = mnist_train();
  const auto available = counts_of(train.labels, stratified_subset(train.labels, 10, 60000, 3), 10);
  const int smallest = *std::min_element(available.begin(), available.end());
  CHECK(smallest == 5421);  // MNIST's class 5
  const auto counts = counts_of(train.labels, stratified_subset(train.labels, 10, 58000, 3), 10);
  CHECK(std::accumulate(counts.begin(), counts.end(), 0) == 58000);
  CHECK(counts[5] == 5421);
  for (int c = 0; c < 10; ++c)
    if (c != 5) CHECK(std::abs(counts[static_cast<std::size_t>(c)] - (58000 - 5421) / 9) <= 1);
  CHECK(stratified_subset(train.labels, 10, 60000, 3).size() == 60000);
}

TEST_CASE("select_images and image_range copy the images and labels asked for") {
  ImageDataset d;
  d.rows = 1;
  d.cols = 2;
  d.count = 4;
  d.images = {0, 1, 10, 11, 20, 21, 30, 31};
  d.labels = {7, 8, 9, 6};
  const ImageDataset picked = select_images(d, {3, 1});
  CHECK(picked.count == 2);
  CHECK(picked.images == std::vector<std::uint8_t>{30, 31, 10, 11});
  CHECK(picked.labels == std::vector<std::int32_t>{6, 8});
  const ImageDataset tail = image_range(d, 2, 2);
  CHECK(tail.images == std::vector<std::uint8_t>{20, 21, 30, 31});
  CHECK(tail.labels == std::vector<std::int32_t>{9, 6});
}
