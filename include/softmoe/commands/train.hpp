#pragma once
// `softmoe train`: the paper's MNIST Soft MoE model (or a variant) on MNIST or Fashion-MNIST, into a
// run directory holding model.safetensors, optimizer.safetensors (resume state), train.csv and
// config.json; --resume continues from the last completed epoch with byte-identical results.
#include <string>

#include "softmoe/models/moe_model.hpp"

namespace softmoe {

struct TrainConfig {
  std::string dataset = "mnist";
  std::string data_dir;  // empty: the dataset's default directory
  std::string model = "paper-mnist";
  int experts = 8;
  int expert_hidden = 0;  // 0: int(784 / experts), the paper's fixed budget
  int slots = 1;
  std::string normalize = "all";
  std::string phi_init = "uniform";
  std::string activation = "relu";
  bool expert_bias = false;
  std::string optimizer = "adam";
  double lr = 1e-3;
  double weight_decay = 0.0;
  double momentum = 0.9;
  int batch = 256;
  int epochs = 14;
  long long seed = 0;
  bool shuffle = false;
  int threads = 1;
  std::string out;
  bool resume = false;
  bool quiet = false;
};

// The paper's MNIST model: 4 tokens of 196 pixels (14 x 14 patches), experts Linear(196 -> h) -> act ->
// Linear(h -> 196), flatten, Linear(784 -> 10), bias-free head.
MoeModelConfig paper_mnist_model(const TrainConfig& config);

// Throws UsageError naming the flag.
void validate(const TrainConfig& config);

int run_train(const TrainConfig& config);

}  // namespace softmoe
