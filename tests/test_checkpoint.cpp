// model.safetensors and optimizer.safetensors: round trips, and every kind of bad file refused.
#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <unistd.h>

#include "softmoe/errors.hpp"
#include "softmoe/io/checkpoint.hpp"
#include "softmoe/models/moe_model_io.hpp"
#include "softmoe/rng.hpp"
#include "softmoe/train/train_state.hpp"

using namespace softmoe;
namespace fs = std::filesystem;

namespace {

MoeModelConfig small_config(int experts) {
  MoeModelConfig c;
  c.moe.tokens = 2;
  c.moe.dim = 5;
  c.moe.experts = experts;
  c.moe.slots = 2;
  c.moe.hidden = 3;
  c.moe.dim_out = 4;
  c.moe.expert_bias = true;
  c.moe.normalize = Normalize::all;
  c.outputs = 3;
  c.head_bias = true;
  return c;
}

struct TempDir {
  fs::path path = fs::temp_directory_path() / ("softmoe-ckpt-" + std::to_string(::getpid()));
  TempDir() { fs::create_directories(path); }
  ~TempDir() { fs::remove_all(path); }
};

std::string read_bytes(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), {}};
}

void write_bytes(const fs::path& p, const std::string& bytes) {
  std::ofstream(p, std::ios::binary) << bytes;
}

std::string load_error(const fs::path& p, ParamBuffer<float>& params) {
  try {
    load_parameters(SafetensorsFile::read(p, true), params);
  } catch (const RunError& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST_CASE("checkpoint: a saved model loads back bit for bit, with its configuration") {
  TempDir dir;
  MoeModel<float> model(small_config(3), 4);
  Rng rng(1, Stream::init);
  model.init(rng);
  save_model_checkpoint(dir.path / "model.safetensors", model);

  const auto file = SafetensorsFile::read(dir.path / "model.safetensors", true);
  const MoeModelConfig loaded = checkpoint_model_config(file);
  CHECK(json::serialize(to_json(loaded)) == json::serialize(to_json(model.config())));
  MoeModel<float> copy(loaded, 4);
  load_parameters(file, copy.params());
  for (std::size_t i = 0; i < model.params().size(); ++i) CHECK(copy.params().values()[i] == model.params().values()[i]);
  CHECK(file.tensor("experts.w1").shape == std::vector<std::size_t>{3, 5, 3});
  CHECK(file.tensor("head.weight").shape == std::vector<std::size_t>{3, 8});
}

TEST_CASE("checkpoint: another model's shape, a truncated file and an edited byte are refused") {
  TempDir dir;
  const fs::path path = dir.path / "model.safetensors";
  MoeModel<float> model(small_config(3), 4);
  Rng rng(2, Stream::init);
  model.init(rng);
  save_model_checkpoint(path, model);
  const std::string good = read_bytes(path);

  MoeModel<float> other(small_config(4), 4);
  CHECK(load_error(path, other.params()).find("router.phi") != std::string::npos);

  write_bytes(path, good.substr(0, good.size() - 10));
  CHECK(load_error(path, model.params()).find(path.string()) == 0);

  std::string edited = good;
  edited[edited.size() - 7] ^= 0x40;
  write_bytes(path, edited);
  CHECK(load_error(path, model.params()).find("crc") != std::string::npos);

  MoeModelConfig no_head_bias = small_config(3);
  no_head_bias.head_bias = false;
  MoeModel<float> smaller(no_head_bias, 4);
  write_bytes(path, good);
  CHECK(load_error(path, smaller.params()).find("head.bias") != std::string::npos);
}

TEST_CASE("train state: parameters, moments, step count and progress survive a round trip") {
  TempDir dir;
  const fs::path path = dir.path / "optimizer.safetensors";
  MoeModel<float> model(small_config(2), 4);
  Rng rng(3, Stream::init);
  model.init(rng);
  OptimizerConfig adam;
  Optimizer<float> optimizer(adam, model.params().size());
  for (std::size_t i = 0; i < model.params().size(); ++i) model.params().grads()[i] = 0.01f * static_cast<float>(i % 7);
  optimizer.step(model.params().values(), model.params().grads());
  save_train_state(path, model.params(), optimizer, {5, R"({"seed":0})", "epoch\n1\n"});

  MoeModel<float> restored(small_config(2), 4);
  Optimizer<float> restored_optimizer(adam, restored.params().size());
  const TrainProgress progress = load_train_state(path, restored.params(), restored_optimizer);
  CHECK(progress.epoch == 5);
  CHECK(progress.settings == R"({"seed":0})");
  CHECK(progress.csv == "epoch\n1\n");
  CHECK(restored_optimizer.steps_taken() == 1);
  for (std::size_t i = 0; i < model.params().size(); ++i) {
    CHECK(restored.params().values()[i] == model.params().values()[i]);
    CHECK(restored_optimizer.second()[i] == optimizer.second()[i]);
  }

  OptimizerConfig sgd;
  sgd.kind = OptimizerKind::sgd;
  Optimizer<float> wrong(sgd, restored.params().size());
  CHECK_THROWS_AS(load_train_state(path, restored.params(), wrong), RunError);
  MoeModel<float> bigger(small_config(3), 4);
  Optimizer<float> bigger_optimizer(adam, bigger.params().size());
  CHECK_THROWS_AS(load_train_state(path, bigger.params(), bigger_optimizer), RunError);
}
