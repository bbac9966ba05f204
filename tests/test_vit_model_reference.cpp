// The whole Soft MoE ViT against PyTorch: tests/reference/fixtures/vit_model.safetensors, written by
// tests/reference/make_vit_model_fixture.py (float64 autograd), holds images, labels, every parameter under
// the model's names, the logits, the label-smoothed cross-entropy and every parameter gradient. Logits, loss
// and gradients must agree norm-wise, ||ours - theirs|| / ||theirs||, to 1e-9 in double and 1e-5 in float;
// every tensor of the fixture must be used and every model parameter must be in it.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "softmoe/io/safetensors.hpp"
#include "softmoe/layers/label_smoothing.hpp"
#include "softmoe/models/vit.hpp"
#include "relative_error.hpp"

using namespace softmoe;

namespace {

constexpr double kDoubleTolerance = 1e-9;
constexpr double kFloatTolerance = 1e-5;

const std::string& meta(const SafetensorsFile& f, const std::string& key) {
  const auto it = f.metadata().find(key);
  if (it == f.metadata().end()) throw std::runtime_error(f.source() + ": no metadata " + key);
  return it->second;
}

int meta_int(const SafetensorsFile& f, const std::string& key) { return std::stoi(meta(f, key)); }

VitConfig config_from(const SafetensorsFile& f) {
  VitConfig c;
  c.rows = meta_int(f, "rows");
  c.cols = meta_int(f, "cols");
  c.patch = meta_int(f, "patch");
  c.dim = meta_int(f, "dim");
  c.depth = meta_int(f, "depth");
  c.heads = meta_int(f, "heads");
  c.mlp_hidden = meta_int(f, "mlp_hidden");
  c.pool = parse_pool(meta(f, "pool"));
  std::stringstream layers(meta(f, "moe_layers"));
  for (std::string item; std::getline(layers, item, ',');) c.moe_layers.push_back(std::stoi(item));
  c.moe_residual = meta(f, "moe_residual") == "true";
  c.experts = meta_int(f, "experts");
  c.slots = meta_int(f, "slots");
  c.expert_hidden = meta_int(f, "expert_hidden");
  c.normalize = parse_normalize(meta(f, "normalize"));
  c.classes = meta_int(f, "classes");
  return c;
}

using test::relative_error;

// Runs the fixture's forward and backward in T and returns the largest relative error; checks each
// against `tolerance` unless it is negative. `perturb` is added to blocks.1.moe.router.phi[0] after loading.
template <class T>
double check_vit_model(double tolerance, double perturb = 0) {
  const SafetensorsFile f = SafetensorsFile::read(SOFTMOE_SOURCE_DIR "/tests/reference/fixtures/vit_model.safetensors",
                                                  /*require_checksum=*/true);
  REQUIRE(meta(f, "kind") == "vit_model");
  const VitConfig c = config_from(f);
  const int B = meta_int(f, "batch");
  const double smoothing = std::stod(meta(f, "label_smoothing"));
  const auto sz = [](int v) { return static_cast<std::size_t>(v); };
  std::set<std::string> used;
  double worst = 0;
  auto expect = [&](const std::string& name, const T* ours, const std::vector<std::size_t>& shape) {
    used.insert(name);
    CAPTURE(name);
    const double error = relative_error(ours, f.values<double>(name, shape));
    CAPTURE(error);
    worst = std::max(worst, error);
    if (tolerance >= 0) CHECK(error <= tolerance);
  };

  VitModel<T> model(c, B);
  auto& params = model.params();
  for (const auto& e : params.entries()) {
    f.copy_to(e.name, e.shape, params.values() + e.offset);
    used.insert(e.name);
  }
  params.value(*params.find("blocks.1.moe.router.phi"))[0] += static_cast<T>(perturb);
  params.zero_grad();
  const auto images = f.values<T>("images", {sz(B), sz(c.rows), sz(c.cols)});
  const auto labels = f.values<std::int32_t>("labels", {sz(B)});
  used.insert("images");
  used.insert("labels");

  const T* logits = model.forward(images.data(), B);
  expect("logits", logits, {sz(B), sz(c.classes)});
  std::vector<T> probs(sz(B * c.classes)), dlogits(probs.size(), T(0));
  const std::vector<T> loss{smoothed_cross_entropy_forward(probs.data(), logits, labels.data(), B, c.classes, smoothing)};
  expect("loss", loss.data(), {});
  smoothed_cross_entropy_backward(dlogits.data(), probs.data(), labels.data(), B, c.classes, smoothing);
  model.backward(dlogits.data(), B);
  for (const auto& e : params.entries()) expect("grad." + e.name, params.grads() + e.offset, e.shape);
  for (const auto& name : f.names()) {
    CAPTURE(name);
    CHECK(used.count(name) == 1);
  }
  return worst;
}

}  // namespace

TEST_CASE("vit model reference: forward, label-smoothed loss and every gradient match PyTorch") {
  check_vit_model<double>(kDoubleTolerance);
  check_vit_model<float>(kFloatTolerance);
}

TEST_CASE("vit model reference: the comparison notices a wrong router parameter") {
  CHECK(check_vit_model<double>(-1, 0.0) <= kDoubleTolerance);
  CHECK(check_vit_model<double>(-1, 1e-5) > 100 * kDoubleTolerance);
}
