// The training recipe's pieces used by the ViT: the cosine schedule with warm-up, label-smoothed
// cross-entropy (hand values, PyTorch's definition, finite differences), random shifts, normalised images.
#include <doctest/doctest.h>

#include <cmath>
#include <cstdint>
#include <set>
#include <vector>

#include "gradcheck.hpp"
#include "softmoe/data/normalized_images.hpp"
#include "softmoe/layers/label_smoothing.hpp"
#include "softmoe/layers/loss.hpp"
#include "softmoe/rng.hpp"
#include "softmoe/train/augment.hpp"
#include "softmoe/train/schedule.hpp"

using namespace softmoe;
using softmoe::testing::gradient_error;
using softmoe::testing::random_vector;

namespace {

constexpr double kStart = 0.5;  // gradient buffers start here: backward must accumulate

}  // namespace

TEST_CASE("schedule: cosine learning rate with linear warm-up") {
  CHECK(cosine_lr(1.0, 0, 10, 110) == doctest::Approx(0.1));
  CHECK(cosine_lr(1.0, 4, 10, 110) == doctest::Approx(0.5));
  CHECK(cosine_lr(1.0, 9, 10, 110) == doctest::Approx(1.0));
  CHECK(cosine_lr(1.0, 10, 10, 110) == doctest::Approx(1.0));
  CHECK(cosine_lr(1.0, 60, 10, 110) == doctest::Approx(0.5));
  CHECK(cosine_lr(1.0, 35, 10, 110) == doctest::Approx(0.5 * (1 + std::cos(M_PI / 4))));
  CHECK(cosine_lr(2.0, 60, 10, 110, 0.2) == doctest::Approx(1.1));
  CHECK(cosine_lr(1.0, 110, 10, 110, 0.05) == doctest::Approx(0.05));
  CHECK(cosine_lr(1.0, 500, 10, 110, 0.05) == doctest::Approx(0.05));
  CHECK(cosine_lr(3.0, 0, 0, 100) == doctest::Approx(3.0));
  CHECK(cosine_lr(3.0, 50, 0, 100) == doctest::Approx(1.5));
  CHECK(cosine_lr(1.0, 20, 10, 5) == doctest::Approx(1.0));  // no room to decay
  double previous = 2;
  for (long step = 10; step <= 110; ++step) {
    const double lr = cosine_lr(1.0, step, 10, 110);
    CHECK(lr <= previous);
    previous = lr;
  }
}

TEST_CASE("label smoothing: cross-entropy matches a hand value, PyTorch's definition and finite differences") {
  // logits (0, ln 3): p = (1/4, 3/4); label 0, eps 0.2, K = 2: q = (0.9, 0.1)
  const std::vector<double> logits{0.0, std::log(3.0)};
  const std::vector<std::int32_t> label{0};
  std::vector<double> probs(2);
  const double expected = -(0.9 * std::log(0.25) + 0.1 * std::log(0.75));
  CHECK(smoothed_cross_entropy_forward(probs.data(), logits.data(), label.data(), 1, 2, 0.2) ==
        doctest::Approx(expected).epsilon(1e-14));
  CHECK(probs[1] == doctest::Approx(0.75).epsilon(1e-14));

  Rng rng(40, Stream::data);
  const int N = 4, K = 5;
  auto z = random_vector(N * K, rng, 2.0);
  const std::vector<std::int32_t> labels{0, 3, 4, 3};
  std::vector<double> p(N * K), p_plain(N * K);
  // eps = 0 is the plain cross-entropy
  CHECK(smoothed_cross_entropy_forward(p.data(), z.data(), labels.data(), N, K, 0.0) ==
        doctest::Approx(softmax_cross_entropy_forward(p_plain.data(), z.data(), labels.data(), N, K)).epsilon(1e-14));
  for (double eps : {0.0, 0.1, 0.5}) {
    CAPTURE(eps);
    // (1 - eps) CE(label) + eps mean_k CE(k), PyTorch's formula term by term
    double mixed = 0;
    for (int r = 0; r < N; ++r) {
      double lse = 0;
      for (int k = 0; k < K; ++k) lse += std::exp(z[r * K + k]);
      lse = std::log(lse);
      double uniform = 0;
      for (int k = 0; k < K; ++k) uniform += lse - z[r * K + k];
      mixed += (1 - eps) * (lse - z[r * K + labels[r]]) + eps * uniform / K;
    }
    auto loss = [&] { return smoothed_cross_entropy_forward(p.data(), z.data(), labels.data(), N, K, eps); };
    CHECK(loss() == doctest::Approx(mixed / N).epsilon(1e-13));
    std::vector<double> dz(N * K, kStart);
    smoothed_cross_entropy_backward(dz.data(), p.data(), labels.data(), N, K, eps, 1.5);
    for (auto& v : dz) v = (v - kStart) / 1.5;
    CHECK(gradient_error(z.data(), dz.data(), dz.size(), loss) < 1e-7);
  }
}

TEST_CASE("shift: an impulse lands where the offset says; shift 0 is the identity") {
  const int rows = 5, cols = 7;
  for (int dr = -6; dr <= 6; ++dr)
    for (int dc = -8; dc <= 8; ++dc) {
      CAPTURE(dr);
      CAPTURE(dc);
      std::vector<float> image(rows * cols, 0.0f);
      image[2 * cols + 3] = 1.0f;  // impulse at (2, 3)
      shift_image(image.data(), rows, cols, dr, dc, -0.5f);
      const int r = 2 + dr, c = 3 + dc;
      const bool inside = r >= 0 && r < rows && c >= 0 && c < cols;
      for (int i = 0; i < rows; ++i)
        for (int j = 0; j < cols; ++j) {
          float want = -0.5f;  // shifted in from outside
          if (i - dr >= 0 && i - dr < rows && j - dc >= 0 && j - dc < cols) want = 0.0f;
          if (inside && i == r && j == c) want = 1.0f;
          CHECK(image[i * cols + j] == want);
        }
    }

  Rng rng(41, Stream::data);
  std::vector<float> images(3 * rows * cols);
  for (auto& v : images) v = static_cast<float>(rng.normal());
  const auto original = images;
  random_shift(images.data(), 3, rows, cols, 0, rng, -1.0f);
  CHECK(images == original);

  // max_shift 2: each image moves by its own offset in [-2, 2]^2, all 25 offsets occur
  const int B = 400;
  std::vector<float> impulses(static_cast<std::size_t>(B) * rows * cols, 0.0f);
  for (int b = 0; b < B; ++b) impulses[b * rows * cols + 2 * cols + 3] = 1.0f;
  Rng shifts(42, Stream::data);
  random_shift(impulses.data(), B, rows, cols, 2, shifts, 0.0f);
  std::set<std::pair<int, int>> offsets;
  for (int b = 0; b < B; ++b) {
    int found = 0;
    for (int i = 0; i < rows * cols; ++i)
      if (impulses[b * rows * cols + i] == 1.0f) {
        ++found;
        offsets.insert({i / cols - 2, i % cols - 3});
      }
    CHECK(found == 1);
  }
  CHECK(offsets.size() == 25);
  for (const auto& [dr, dc] : offsets) CHECK((std::abs(dr) <= 2 && std::abs(dc) <= 2));
}

TEST_CASE("normalized images: pixel statistics and the normalised values") {
  ImageDataset data;
  data.count = 2;
  data.rows = 1;
  data.cols = 2;
  data.images = {0, 255, 51, 102};
  data.labels = {0, 1};
  const PixelStats stats = pixel_stats(data);
  const double mean = (0 + 1 + 0.2 + 0.4) / 4;
  CHECK(stats.mean == doctest::Approx(mean));
  CHECK(stats.stddev == doctest::Approx(std::sqrt(((0 - mean) * (0 - mean) + (1 - mean) * (1 - mean) +
                                                   (0.2 - mean) * (0.2 - mean) + (0.4 - mean) * (0.4 - mean)) /
                                                  4)));
  const Buffer<float> x = normalized_images(data, 0.5f, 0.25f);
  REQUIRE(x.size() == 4);
  CHECK(x[0] == black_value(0.5f, 0.25f));
  CHECK(x[0] == doctest::Approx(-2.0));
  CHECK(x[1] == doctest::Approx(2.0));
  CHECK(x[2] == doctest::Approx((0.2 - 0.5) / 0.25));
  // the same floats as patch_tokens with patch 1
  std::vector<float> tokens(4);
  patch_tokens(tokens.data(), data, 0, 2, 1, 0.5f, 0.25f);
  for (int i = 0; i < 4; ++i) CHECK(x[i] == tokens[i]);
  CHECK_THROWS_AS(normalized_images(data, 0.5f, 0.0f), std::invalid_argument);
}
