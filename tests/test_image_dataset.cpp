// Loading whole datasets from a directory (synthetic ones, the shipped MNIST), and cutting images into
// the paper's patch tokens.
#include <doctest/doctest.h>

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <stdexcept>
#include <string>
#include <vector>

#include "idx_files.hpp"
#include "softmoe/data/image_dataset.hpp"
#include "softmoe/errors.hpp"

using namespace softmoe;
using namespace softmoe::testing;

namespace {

// A dataset directory of 4x4 images: 3 training images under the original gzip names, 2 test images
// uncompressed under the names without ".gz".
void write_tiny_dataset(const TempDir& dir, std::uint32_t test_labels = 2) {
  write_gz(dir / "train-images-idx3-ubyte.gz", idx_bytes({3, 4, 4}, std::vector<std::uint8_t>(48, 7)));
  write_gz(dir / "train-labels-idx1-ubyte.gz", idx_bytes({3}, {1, 2, 3}));
  write_raw(dir / "t10k-images-idx3-ubyte", idx_bytes({2, 4, 4}, std::vector<std::uint8_t>(32, 9)));
  write_raw(dir / "t10k-labels-idx1-ubyte", idx_bytes({test_labels}, std::vector<std::uint8_t>(test_labels, 4)));
}

std::vector<int> class_counts(const std::vector<std::int32_t>& labels, int classes) {
  std::vector<int> counts(classes, 0);
  for (auto label : labels) ++counts.at(label);
  return counts;
}

// Image 0 holds (r * cols + c) % 256 and image 1 (r * cols + c) / 4: together they identify the pixel.
ImageDataset position_images(int rows, int cols) {
  ImageDataset data;
  data.count = 2;
  data.rows = rows;
  data.cols = cols;
  data.labels = {0, 0};
  for (int n = 0; n < 2; ++n)
    for (int i = 0; i < rows * cols; ++i) data.images.push_back(static_cast<std::uint8_t>(n == 0 ? i % 256 : i / 4));
  return data;
}

// Pixel (r, c) of image n must land at token (r / patch) * (28 / patch) + c / patch, position
// (r % patch) * patch + c % patch.
void check_layout(int patch) {
  CAPTURE(patch);
  const ImageDataset data = position_images(28, 28);
  const int per_row = 28 / patch, tokens = per_row * per_row, dim = patch * patch;
  std::vector<float> out(2 * tokens * dim, -1.0f);
  patch_tokens(out.data(), data, 0, 2, patch, 0.0f, 1.0f);
  int wrong = 0;
  for (int n = 0; n < 2; ++n)
    for (int r = 0; r < 28; ++r)
      for (int c = 0; c < 28; ++c) {
        const int token = (r / patch) * per_row + c / patch, position = (r % patch) * patch + c % patch;
        const float expected = static_cast<float>(data.images[n * 784 + r * 28 + c]) / 255.0f;
        wrong += out[(n * tokens + token) * dim + position] != expected;
      }
  CHECK(wrong == 0);

  std::vector<float> second(tokens * dim);  // first = 1 selects the second image
  patch_tokens(second.data(), data, 1, 1, patch, 0.0f, 1.0f);
  CHECK(std::equal(second.begin(), second.end(), out.begin() + tokens * dim));
}

}  // namespace

TEST_CASE("dataset: a directory holding the four files loads, gzip or not") {
  TempDir dir;
  write_tiny_dataset(dir);
  const ImageSplits splits = load_image_dataset(Dataset::fashion_mnist, dir.str());
  CHECK(splits.source_dir == dir.str());
  CHECK(splits.classes == 10);
  CHECK(splits.train.count == 3);
  CHECK(splits.train.rows == 4);
  CHECK(splits.train.cols == 4);
  CHECK(splits.train.images == std::vector<std::uint8_t>(48, 7));
  CHECK(splits.train.labels == std::vector<std::int32_t>{1, 2, 3});
  CHECK(splits.test.count == 2);
  CHECK(splits.test.images == std::vector<std::uint8_t>(32, 9));
  CHECK(splits.test.labels == std::vector<std::int32_t>{4, 4});
}

TEST_CASE("dataset: label count different from image count names both files") {
  TempDir dir;
  write_tiny_dataset(dir, 3);
  const std::string message = run_error([&] { load_image_dataset(Dataset::mnist, dir.str()); });
  CHECK(message == dir / "t10k-images-idx3-ubyte" + ": holds 2 images but " + dir / "t10k-labels-idx1-ubyte" +
                       " holds 3 labels");
}

TEST_CASE("dataset: test images of another size than the training images") {
  TempDir dir;
  write_tiny_dataset(dir);
  write_raw(dir / "t10k-images-idx3-ubyte", idx_bytes({2, 2, 8}, std::vector<std::uint8_t>(32, 9)));
  CHECK(run_error([&] { load_image_dataset(Dataset::mnist, dir.str()); }) ==
        dir / "t10k-images-idx3-ubyte" + ": images are 2x8 but the training images are 4x4");
}

TEST_CASE("dataset: a damaged file inside a dataset is reported with its path") {
  TempDir dir;
  write_tiny_dataset(dir);
  write_gz(dir / "train-labels-idx1-ubyte.gz", idx_bytes({3}, {1, 2, 30}));
  const std::string message = run_error([&] { load_image_dataset(Dataset::mnist, dir.str()); });
  CHECK(message.rfind(dir / "train-labels-idx1-ubyte.gz: label out of range", 0) == 0);
}

TEST_CASE("dataset: one missing file") {
  TempDir dir;
  write_tiny_dataset(dir);
  std::filesystem::remove(dir / "t10k-labels-idx1-ubyte");
  const std::string message = run_error([&] { load_image_dataset(Dataset::mnist, dir.str()); });
  CAPTURE(message);
  CHECK(message.rfind(dir / "t10k-labels-idx1-ubyte.gz: missing (also looked for t10k-labels-idx1-ubyte", 0) == 0);
}

TEST_CASE("dataset: a missing dataset says how to get it") {
  TempDir dir;
  CHECK(run_error([&] { load_image_dataset(Dataset::fashion_mnist, dir.str()); }) ==
        "Fashion-MNIST not found in " + dir.str() +
            ": run `make data` (installs Debian's dataset-fashion-mnist) or pass --data-dir DIR");
  const std::string absent = dir / "absent";
  CHECK(run_error([&] { load_image_dataset(Dataset::mnist, absent); }).rfind("MNIST not found in " + absent + ": ", 0) == 0);
}

TEST_CASE("dataset: names round-trip; an unknown name is refused listing the choices") {
  for (const auto& entry : kDatasetNames) CHECK(value_named(to_string(entry.value), kDatasetNames, "dataset") == entry.value);
  try {
    value_named("cifar10", kDatasetNames, "dataset");
    FAIL("no invalid_argument");
  } catch (const std::invalid_argument& e) {
    CHECK(std::string(e.what()) == "unknown dataset 'cifar10' (expected mnist or fashion-mnist)");
  }
}

TEST_CASE("mnist: the shipped files load with the published counts") {
  const ImageSplits mnist = load_image_dataset(Dataset::mnist, "");
  CHECK(std::filesystem::equivalent(mnist.source_dir, SOFTMOE_SOURCE_DIR "/data/mnist"));
  CHECK(mnist.classes == 10);
  CHECK(mnist.train.count == 60000);
  CHECK(mnist.test.count == 10000);
  for (const ImageDataset* split : {&mnist.train, &mnist.test}) {
    CHECK(split->rows == 28);
    CHECK(split->cols == 28);
    CHECK(split->images.size() == static_cast<std::size_t>(split->count) * 784);
    CHECK(split->labels.size() == static_cast<std::size_t>(split->count));
  }
  CHECK(class_counts(mnist.train.labels, 10) ==
        std::vector<int>{5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949});
  CHECK(class_counts(mnist.test.labels, 10) == std::vector<int>{980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009});
  CHECK(mnist.train.labels.front() == 5);
  CHECK(mnist.test.labels.front() == 7);
  CHECK(*std::max_element(mnist.train.images.begin(), mnist.train.images.end()) == 255);

  // The paper's tokens for the first training image: 4 tokens of 196, background at the corners.
  std::vector<float> tokens(4 * 196);
  patch_tokens(tokens.data(), mnist.train, 0, 1, 14, 0.1307f, 0.3081f);
  CHECK(tokens[0] == doctest::Approx(-0.1307 / 0.3081));
  CHECK(*std::max_element(tokens.begin(), tokens.end()) == doctest::Approx((1 - 0.1307) / 0.3081));
}

TEST_CASE("dataset: Debian's Fashion-MNIST loads when installed") {
  if (!std::filesystem::exists("/usr/share/datasets/fashion-mnist")) {
    MESSAGE("skipped: /usr/share/datasets/fashion-mnist is absent (Debian package dataset-fashion-mnist)");
    return;
  }
  const ImageSplits fashion = load_image_dataset(Dataset::fashion_mnist, "");
  CHECK(fashion.source_dir == "/usr/share/datasets/fashion-mnist");
  CHECK(fashion.train.count == 60000);
  CHECK(fashion.test.count == 10000);
  CHECK(fashion.train.rows == 28);
  CHECK(fashion.train.cols == 28);
  CHECK(class_counts(fashion.train.labels, 10) == std::vector<int>(10, 6000));
  CHECK(class_counts(fashion.test.labels, 10) == std::vector<int>(10, 1000));
}

TEST_CASE("dataset: patch_tokens places each pixel in its patch, row-major") {
  check_layout(14);  // the paper's MNIST tokens: 4 of 196
  check_layout(4);   // 49 tokens of 16
  check_layout(28);  // one token, the whole image
}

TEST_CASE("dataset: patch_tokens normalises as (pixel / 255 - mean) / std") {
  ImageDataset data;
  data.count = 1;
  data.rows = data.cols = 2;
  data.images = {0, 255, 128, 1};
  data.labels = {0};
  std::vector<float> out(4);
  patch_tokens(out.data(), data, 0, 1, 2, 0.1307f, 0.3081f);
  CHECK(out[0] == doctest::Approx(-0.424213).epsilon(1e-6));
  CHECK(out[1] == doctest::Approx(2.821487).epsilon(1e-6));
  CHECK(out[2] == doctest::Approx((128 / 255.0 - 0.1307) / 0.3081).epsilon(1e-6));
  for (int i = 0; i < 4; ++i) CHECK(out[i] == (static_cast<float>(data.images[i]) / 255.0f - 0.1307f) / 0.3081f);
}

TEST_CASE("dataset: patch_tokens refuses a patch that does not divide the image, and a bad range") {
  const ImageDataset data = position_images(28, 28);
  std::vector<float> out(2 * 784);
  CHECK_THROWS_AS(patch_tokens(out.data(), data, 0, 1, 5, 0.0f, 1.0f), UsageError);
  CHECK_THROWS_AS(patch_tokens(out.data(), data, 0, 1, 0, 0.0f, 1.0f), UsageError);
  CHECK_THROWS_AS(patch_tokens(out.data(), data, 1, 2, 14, 0.0f, 1.0f), std::out_of_range);
  CHECK_THROWS_AS(patch_tokens(out.data(), data, -1, 1, 14, 0.0f, 1.0f), std::out_of_range);
}
