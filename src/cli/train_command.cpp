#include "commands.hpp"

namespace softmoe::cli {

CLI::App* add_train_command(CLI::App& app, TrainConfig& c) {
  auto* cmd = app.add_subcommand(
      "train",
      "Train a Soft MoE classifier on MNIST or Fashion-MNIST into a run directory: model.safetensors (the "
      "checkpoint), optimizer.safetensors (resume state), train.csv (one row per epoch), config.json. "
      "Defaults are the paper's MNIST recipe: 4 tokens of 14x14 pixels, normalisation all, Phi uniform, "
      "bias-free ReLU experts of hidden int(784/n), bias-free linear head, Adam 1e-3, batch 256, file order, "
      "14 epochs, seed 0.");
  cmd->add_option("--dataset", c.dataset,
                  "mnist (shipped in data/mnist) or fashion-mnist (Debian's dataset-fashion-mnist; `make data`)")
      ->check(CLI::IsMember({"mnist", "fashion-mnist"}))
      ->capture_default_str();
  cmd->add_option("--data-dir", c.data_dir,
                  "Directory with train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz, t10k-images-idx3-ubyte.gz, "
                  "t10k-labels-idx1-ubyte.gz (or uncompressed); default: the dataset's own directory");
  cmd->add_option("--model", c.model, "Model: paper-mnist (the paper's MNIST Soft MoE)")
      ->check(CLI::IsMember({"paper-mnist"}))
      ->capture_default_str();
  cmd->add_option("--experts", c.experts, "Number of experts n")->capture_default_str();
  cmd->add_option("--expert-hidden", c.expert_hidden, "Each expert's hidden width; 0 = int(784 / n), the paper's budget")
      ->capture_default_str();
  cmd->add_option("--slots", c.slots, "Slots p per expert")->capture_default_str();
  cmd->add_option("--normalize", c.normalize,
                  "Router normalisation: none, router (experts see raw tokens), all (the paper's code)")
      ->check(CLI::IsMember({"none", "router", "all"}))
      ->capture_default_str();
  cmd->add_option("--phi-init", c.phi_init, "Router weights Phi: uniform [-1, 1] (paper) or normal (std 1/sqrt(d))")
      ->check(CLI::IsMember({"uniform", "normal"}))
      ->capture_default_str();
  cmd->add_option("--activation", c.activation, "Expert activation: relu or gelu")
      ->check(CLI::IsMember({"relu", "gelu"}))
      ->capture_default_str();
  cmd->add_option("--expert-bias", c.expert_bias, "Biases in the experts' Linear layers (true/false)")
      ->capture_default_str();
  cmd->add_option("--optimizer", c.optimizer, "adam, adamw or sgd (with --momentum)")
      ->check(CLI::IsMember({"adam", "adamw", "sgd"}))
      ->capture_default_str();
  cmd->add_option("--lr", c.lr, "Learning rate")->capture_default_str();
  cmd->add_option("--weight-decay", c.weight_decay, "Weight decay (L2 for adam and sgd, decoupled for adamw)")
      ->capture_default_str();
  cmd->add_option("--momentum", c.momentum, "SGD momentum")->capture_default_str();
  cmd->add_option("--batch", c.batch, "Mini-batch size (the last partial batch is kept)")->capture_default_str();
  cmd->add_option("--epochs", c.epochs, "Epochs of updates; with --resume, may extend a finished run")
      ->capture_default_str();
  cmd->add_option("--seed", c.seed, "Seed of the initialisation (and of --shuffle)")->capture_default_str();
  cmd->add_flag("--shuffle", c.shuffle, "Reshuffle the training set every epoch (default: file order, as the paper)");
  cmd->add_option("--threads", c.threads, "OpenBLAS threads (recorded in train.csv and config.json)")
      ->capture_default_str();
  cmd->add_option("--out", c.out, "Run directory to create (refused if it already holds a run, unless --resume)")
      ->required();
  cmd->add_flag("--resume", c.resume,
                "Continue the run in --out from its last completed epoch; the settings must match");
  cmd->add_flag("--quiet", c.quiet, "No progress on stderr");
  return cmd;
}

}  // namespace softmoe::cli
