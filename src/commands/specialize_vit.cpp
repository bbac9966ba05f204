// `softmoe specialize` on a ViT run: the expert subset of each input is chosen in every Soft MoE layer
// (top-k by that layer's combine weight, or random), and only the kept experts run (Algorithm 2 per layer).
#include <chrono>
#include <filesystem>

#include <fmt/format.h>

#include "softmoe/data/image_dataset.hpp"
#include "softmoe/data/normalized_images.hpp"
#include "softmoe/errors.hpp"
#include "softmoe/io/checkpoint.hpp"
#include "softmoe/io/vit_checkpoint.hpp"
#include "softmoe/layers/loss.hpp"
#include "softmoe/layers/expert_selection.hpp"
#include "softmoe/train/classification.hpp"
#include "specialize_internal.hpp"

namespace softmoe {
namespace fs = std::filesystem;
namespace {

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

class VitEvaluator final : public SubsetEvaluator {
 public:
  VitEvaluator(std::unique_ptr<VitModel<float>> model, TokenDataset test, int batch)
      : model_(std::move(model)), test_(std::move(test)), batch_(batch) {}

  int experts() const override { return model_->config().experts; }
  int test_count() const override { return test_.count; }
  bool has_oracle() const override { return false; }
  SpecializeRow oracle(int, int) override { throw UsageError("--methods: oracle is not available for a ViT"); }

  SpecializeRow all_experts() override {
    SpecializeRow row("all", experts());
    const auto start = std::chrono::steady_clock::now();
    long correct = 0;
    for (int first = 0; first < test_.count; first += batch_) {
      const int B = std::min(batch_, test_.count - first);
      correct += count_correct(model_->forward(x(first), B), test_.labels.data() + first, B, classes());
    }
    row.seconds = seconds_since(start);
    row.inputs = test_.count;
    row.accuracy = static_cast<double>(correct) / test_.count;
    row.work = full_moe_work(test_.count);
    add_rest_of_model(row.work, test_.count);
    return row;
  }

  SpecializeRow selected(const std::string& method, int k, Rng* rng) override {
    SpecializeRow row(method, k);
    const int n = experts();
    const auto choose = [&](SelectionWorkspace& ws, int /*moe_layer*/, int B) {
      if (rng) keep_random(ws.keep.data(), B, n, k, *rng);
      else keep_top_k(ws.keep.data(), ws.scores.data(), B, n, k);
    };
    const auto start = std::chrono::steady_clock::now();
    long correct = 0;
    for (int first = 0; first < test_.count; first += batch_) {
      const int B = std::min(batch_, test_.count - first);
      const float* logits = model_->forward_selected(x(first), B, choose, method == "topk-renorm", &row.work);
      correct += count_correct(logits, test_.labels.data() + first, B, classes());
    }
    row.seconds = seconds_since(start);
    row.inputs = test_.count;
    row.accuracy = static_cast<double>(correct) / test_.count;
    add_rest_of_model(row.work, test_.count);
    return row;
  }

 private:
  int classes() const { return model_->config().classes; }
  const float* x(int first) const {
    return test_.x.data() + static_cast<std::size_t>(first) * model_->config().rows * model_->config().cols;
  }

  // Every Soft MoE layer with all experts: router, dispatch, experts, combine (as run_kept_experts counts).
  WorkCount full_moe_work(long inputs) const {
    const SoftMoeShape& s = model_->moe_shape();
    const double m = s.tokens, d = s.dim, h = s.hidden, d_out = s.dim_out, S = s.total_slots();
    const double layers = model_->moe_layer_count();
    WorkCount work;
    work.expert = layers * inputs * S * 2.0 * (d * h + h * d_out);
    work.total = work.expert + layers * inputs * (2.0 * m * d * S + S * 2.0 * m * (d + d_out));
    return work;
  }

  // The matrix products outside the Soft MoE layers: patch embedding, attention (projections, scores,
  // weighted values), dense MLPs, head.
  void add_rest_of_model(WorkCount& work, long inputs) const {
    const VitConfig& c = model_->config();
    const double L = c.tokens(), D = c.dim, F = c.mlp_width(), p = c.patch;
    const double dense_blocks = c.depth - model_->moe_layer_count();
    const double per_input = 2.0 * c.patches() * p * p * D + c.depth * (2.0 * L * D * 4 * D + 4.0 * L * L * D) +
                             dense_blocks * 4.0 * L * D * F + 2.0 * D * c.classes;
    work.total += per_input * inputs;
  }

  std::unique_ptr<VitModel<float>> model_;
  TokenDataset test_;
  int batch_;
};

}  // namespace

std::unique_ptr<SubsetEvaluator> load_vit_evaluator(const std::string& run_dir, const json::Value& config,
                                                    const std::string& data_dir_override, int batch) {
  const fs::path dir = run_dir;
  std::unique_ptr<VitModel<float>> model;
  VitArchitecture architecture;
  std::string dataset, data_dir;
  try {
    dataset = config.at("dataset").as_string();
    data_dir = config.at("data_dir").as_string();
    const VitArchitecture stated = vit_architecture_from_json(config.at("architecture"), (dir / "config.json").string());
    const auto file = SafetensorsFile::read(dir / "model.safetensors", /*require_checksum=*/true);
    architecture = checkpoint_vit_architecture(file);
    if (json::serialize(to_json(stated)) != json::serialize(to_json(architecture)))
      throw RunError(fmt::format("{}: holds another model than config.json", (dir / "model.safetensors").string()));
    if (architecture.model.experts == 0)
      throw UsageError(fmt::format("--run {}: a dense ViT (--experts 0) has no experts to select", dir.string()));
    model = std::make_unique<VitModel<float>>(architecture.model, batch);
    load_parameters(file, model->params());
  } catch (const UsageError&) {
    throw;
  } catch (const std::exception& e) {
    throw UsageError(fmt::format("--run {}: {}", dir.string(), e.what()));
  }
  const ImageSplits splits = load_image_dataset(dataset, data_dir_override.empty() ? data_dir : data_dir_override);
  const VitConfig& c = architecture.model;
  if (splits.test.rows != c.rows || splits.test.cols != c.cols)
    throw RunError(fmt::format("{}: images are {}x{}, the model reads {}x{}", splits.source_dir, splits.test.rows,
                               splits.test.cols, c.rows, c.cols));
  TokenDataset test;
  test.count = splits.test.count;
  test.x = normalized_images(splits.test, static_cast<float>(architecture.input.mean),
                             static_cast<float>(architecture.input.stddev));
  test.labels = splits.test.labels;
  return std::make_unique<VitEvaluator>(std::move(model), std::move(test), batch);
}

}  // namespace softmoe
