// `softmoe train`'s settings for both models, the ViT checkpoint's architecture record and both
// models behind the one Model interface.
#include <doctest/doctest.h>

#include <filesystem>
#include <unistd.h>

#include "softmoe/commands/train.hpp"
#include "softmoe/errors.hpp"
#include "softmoe/io/checkpoint.hpp"
#include "softmoe/models/vit_io.hpp"
#include "softmoe/eval/subset_evaluator.hpp"
#include "softmoe/layers/expert_selection.hpp"
#include "softmoe/models/model.hpp"
#include "softmoe/rng.hpp"
#include "softmoe/train/classification.hpp"

using namespace softmoe;
namespace fs = std::filesystem;

namespace {

TrainConfig vit_train_config(int experts) {
  TrainConfig c;
  c.model = ModelKind::vit;
  c.experts = experts;
  c.out = "unused";
  return c;
}

}  // namespace

TEST_CASE("resolve_recipe: the paper's recipe for paper-mnist, the ViT recipe for vit, flags override") {
  TrainConfig paper;
  const TrainRecipe p = resolve_recipe(paper);
  CHECK(p.optimizer == OptimizerKind::adam);
  CHECK(p.lr == doctest::Approx(1e-3));
  CHECK(p.batch == 256);
  CHECK(p.epochs == 14);
  CHECK_FALSE(p.shuffle);
  CHECK(p.schedule == Schedule::constant);
  CHECK(p.label_smoothing == 0);
  CHECK(p.shift == 0);
  CHECK(p.normalize == Normalize::all);

  TrainConfig vit = vit_train_config(16);
  TrainRecipe v = resolve_recipe(vit);
  CHECK(v.optimizer == OptimizerKind::adamw);
  CHECK(v.lr == doctest::Approx(2e-3));
  CHECK(v.weight_decay == doctest::Approx(0.05));
  CHECK(v.batch == 128);
  CHECK(v.shuffle);
  CHECK(v.schedule == Schedule::cosine);
  CHECK(v.warmup == doctest::Approx(0.5));
  CHECK(v.label_smoothing == doctest::Approx(0.1));
  CHECK(v.shift == 2);
  CHECK(v.normalize == Normalize::router);

  vit.lr = 5e-4;
  vit.recipe.shift = 0;
  vit.recipe.shuffle = false;
  v = resolve_recipe(vit);
  CHECK(v.lr == doctest::Approx(5e-4));
  CHECK(v.shift == 0);
  CHECK_FALSE(v.shuffle);
}

TEST_CASE("vit_model: a fixed expert weight budget gives hidden floor(P / (2 n dim))") {
  for (auto [n, hidden] : {std::pair{4, 256}, std::pair{16, 64}, std::pair{64, 16}}) {
    TrainConfig c = vit_train_config(n);
    c.vit.expert_params = 131072;
    const VitConfig m = vit_model(c);
    CHECK(m.expert_width() == hidden);
    CHECK(m.moe_blocks() == std::vector<int>{2, 3});
  }
  TrainConfig c = vit_train_config(8);
  CHECK(vit_model(c).expert_width() == 256 / 8);  // default: mlp width / n
  c.vit.moe_layers = {3, 0};
  CHECK(vit_model(c).moe_blocks() == std::vector<int>{0, 3});
  c.vit.expert_params = 100;
  CHECK_THROWS_AS(vit_model(c), UsageError);  // width 0
  c = vit_train_config(0);
  CHECK(vit_model(c).moe_blocks().empty());  // the dense baseline
  c.vit.heads = 5;
  CHECK_THROWS_WITH_AS(validate(c), doctest::Contains("--heads"), UsageError);
}

TEST_CASE("ViT architecture: JSON round trip, refused when damaged, stored in the checkpoint") {
  TrainConfig c = vit_train_config(4);
  c.vit.dim = 16;
  c.vit.heads = 2;
  c.vit.depth = 2;
  c.vit.patch = 7;
  c.vit.pool = Pool::mean;
  c.vit.moe_residual = false;
  const VitArchitecture a{vit_model(c), PixelStats{0.25, 0.5}};
  const json::Value value = to_json(a);
  CHECK(is_vit_architecture(value));
  const VitArchitecture back = vit_architecture_from_json(value, "test");
  CHECK(json::serialize(to_json(back)) == json::serialize(value));
  CHECK(back.model.pool == Pool::mean);
  CHECK_FALSE(back.model.moe_residual);
  CHECK(back.input.stddev == 0.5);

  json::Value broken = value;
  broken["heads"] = 3;
  CHECK_THROWS_AS(vit_architecture_from_json(broken, "test"), RunError);
  json::Value missing = json::parse(R"({"model": "vit", "rows": 28})");
  CHECK_THROWS_AS(vit_architecture_from_json(missing, "test"), RunError);

  VitModel<float> model(a.model, 2);
  Rng rng(3, Stream::init);
  model.init(rng);
  const fs::path path = fs::temp_directory_path() / ("softmoe_vit_ckpt_" + std::to_string(::getpid()) + ".safetensors");
  save_vit_checkpoint(path, model, a.input);
  const auto file = SafetensorsFile::read(path, true);
  CHECK(json::serialize(to_json(checkpoint_vit_architecture(file))) == json::serialize(value));
  VitModel<float> loaded(checkpoint_vit_architecture(file).model, 2);
  load_parameters(file, loaded.params());
  for (std::size_t i = 0; i < model.params().size(); ++i) REQUIRE(loaded.params().values()[i] == model.params().values()[i]);
  fs::remove(path);
}

TEST_CASE("Both models behind the Model interface: sizes, MoE layers, forward_selected with every expert kept") {
  MoeModelConfig mc;
  mc.moe.tokens = 4;
  mc.moe.dim = 3;
  mc.moe.experts = 2;
  mc.moe.hidden = 5;
  mc.moe.dim_out = 3;
  mc.outputs = 7;
  MoeModel<float> moe(mc, 2);
  TrainConfig c = vit_train_config(2);
  c.vit.dim = 8;
  c.vit.heads = 2;
  c.vit.depth = 2;
  c.vit.patch = 7;
  VitModel<float> vit(vit_model(c), 2);

  struct Case {
    Model<float>& model;
    std::size_t input_size;
    int outputs, moe_layers;
  };
  for (Case t : {Case{moe, 12, 7, 1}, Case{vit, 784, 10, 1}}) {
    Model<float>& model = t.model;
    Rng rng(1, Stream::init);
    model.init(rng);
    CHECK(model.input_size() == t.input_size);
    CHECK(model.outputs() == t.outputs);
    REQUIRE(model.moe_layers().size() == static_cast<std::size_t>(t.moe_layers));
    CHECK(model.expert_param_count() == softmoe_expert_params(model.moe_layers()[0]));
    CHECK(model.expert_param_count() > 0);
    CHECK(model.dense_flops_per_input() > 0);

    std::vector<float> x(2 * model.input_size());
    for (std::size_t i = 0; i < x.size(); ++i) x[i] = 0.01f * static_cast<float>(i % 97) - 0.4f;
    const float* a = model.forward(x.data(), 2);
    const std::vector<float> full(a, a + 2 * model.outputs());
    int calls = 0;
    WorkCount work;
    const ExpertChooser keep_all = [&](SelectionWorkspace& ws, int layer, int B) {
      CHECK(layer == calls++);
      std::fill(ws.keep.begin(), ws.keep.begin() + static_cast<long>(B) * model.moe_layers()[0].experts, 1);
    };
    const float* b = model.forward_selected(x.data(), 2, keep_all, false, &work);
    CHECK(calls == t.moe_layers);
    for (std::size_t i = 0; i < full.size(); ++i) CHECK(b[i] == doctest::Approx(full[i]).epsilon(1e-4));
    // The same work as the evaluator's all-expert count of the Soft MoE layers.
    const WorkCount expected = full_forward_work(model, 2);
    CHECK(work.expert == doctest::Approx(expected.expert));
    CHECK(work.total + 2 * model.dense_flops_per_input() == doctest::Approx(expected.total));
  }
}

TEST_CASE("train_classifier_epoch follows the recipe: learning rate per update, augmentation per batch, smoothing") {
  MoeModelConfig mc;
  mc.moe.tokens = 2;
  mc.moe.dim = 3;
  mc.moe.experts = 2;
  mc.moe.hidden = 4;
  mc.moe.dim_out = 3;
  mc.outputs = 3;
  TokenDataset data;
  data.count = 10;
  data.x = make_buffer<float>(60);
  for (int i = 0; i < 60; ++i) data.x[static_cast<std::size_t>(i)] = static_cast<float>((i * 7) % 11) / 5.0f - 1.0f;
  for (int i = 0; i < 10; ++i) data.labels.push_back(i % 3);
  std::vector<std::int32_t> order(10);
  for (int i = 0; i < 10; ++i) order[static_cast<std::size_t>(i)] = i;

  const auto train = [&](const EpochRecipe& recipe, std::vector<float>& out) {
    MoeModel<float> model(mc, 4);
    Rng rng(5, Stream::init);
    model.init(rng);
    OptimizerConfig oc;
    oc.lr = 0.05;
    Optimizer<float> optimizer(oc, model.params().size());
    const EpochMetrics m = train_classifier_epoch(model, optimizer, data, order, {}, recipe);
    out.assign(model.params().values(), model.params().values() + model.params().size());
    return m;
  };
  std::vector<float> initial, plain, frozen, smoothed;
  {
    MoeModel<float> model(mc, 4);
    Rng rng(5, Stream::init);
    model.init(rng);
    initial.assign(model.params().values(), model.params().values() + model.params().size());
  }
  const EpochMetrics p = train({}, plain);
  CHECK(plain != initial);

  EpochRecipe zero;
  std::vector<long> steps;
  int batches = 0;
  zero.lr = [&](long step) { steps.push_back(step); return 0.0; };
  zero.augment = [&](float*, int count) { CHECK(count <= 4); ++batches; };
  train(zero, frozen);
  CHECK(frozen == initial);  // every update at lr 0
  CHECK(steps == std::vector<long>{0, 1, 2});
  CHECK(batches == 3);

  EpochRecipe smooth;
  smooth.label_smoothing = 0.2;
  const EpochMetrics s = train(smooth, smoothed);
  CHECK(smoothed != plain);
  CHECK(s.loss != p.loss);
}
