#include "commands.hpp"

namespace softmoe::cli {

CLI::App* add_train_command(CLI::App& app, TrainConfig& c) {
  auto* cmd = app.add_subcommand(
      "train",
      "Train a Soft MoE classifier on MNIST or Fashion-MNIST into a run directory: model.safetensors (the "
      "checkpoint), optimizer.safetensors (resume state), train.csv (one row per epoch), config.json. "
      "--model paper-mnist (default) is the paper's MNIST recipe: 4 tokens of 14x14 pixels, normalisation all, Phi "
      "uniform, bias-free ReLU experts of hidden int(784/n), bias-free linear head, Adam 1e-3, batch 256, file order, "
      "14 epochs, seed 0. --model vit is a pre-LayerNorm Vision Transformer whose MLPs in --moe-layers are Soft MoE "
      "layers of GELU experts with biases (--experts 0: all dense, the baseline); its defaults: patch 4, dim 64, "
      "depth 4, heads 4, class token, AdamW 2e-3 with weight decay 0.05, cosine schedule with 0.5 epochs of warm-up, "
      "label smoothing 0.1, random shifts of up to 2 pixels, reshuffled batches of 128, 20 epochs, images normalised "
      "by the training set's pixel mean and std.");
  cmd->add_option("--dataset", c.dataset,
                  "mnist (shipped in data/mnist) or fashion-mnist (Debian's dataset-fashion-mnist; `make data`)")
      ->transform(enum_names(kDatasetNames))
      ->default_str(to_string(c.dataset));
  cmd->add_option("--data-dir", c.data_dir,
                  "Directory with train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz, t10k-images-idx3-ubyte.gz, "
                  "t10k-labels-idx1-ubyte.gz (or uncompressed); default: the dataset's own directory");
  cmd->add_option("--model", c.model, "Model: paper-mnist (the paper's MNIST Soft MoE) or vit (Soft MoE ViT)")
      ->transform(enum_names(kModelNames))
      ->default_str(to_string(c.model));
  cmd->add_option("--experts", c.experts, "Number of experts n per Soft MoE layer (vit: 0 = dense baseline)")
      ->capture_default_str();
  cmd->add_option("--expert-hidden", c.expert_hidden,
                  "Each expert's hidden width; 0 = int(784 / n) (paper-mnist, the paper's budget), max(1, mlp width / n) "
                  "(vit)")
      ->capture_default_str();
  cmd->add_option("--slots", c.slots, "Slots p per expert")->capture_default_str();
  cmd->add_option("--activation", c.activation, "paper-mnist: expert activation, relu or gelu (vit: always gelu)")
      ->transform(enum_names(kActivationNames))
      ->default_str(to_string(c.activation));
  cmd->add_option("--expert-bias", c.expert_bias,
                  "paper-mnist: biases in the experts' Linear layers (true/false; vit: always)")
      ->capture_default_str();
  cmd->add_option_function<double>("--lr", [&c](const double& v) { c.lr = v; },
                                   "Learning rate (peak of the cosine schedule); default 1e-3 (paper-mnist), 2e-3 (vit)");
  cmd->add_option("--momentum", c.momentum, "SGD momentum")->capture_default_str();
  cmd->add_option_function<int>("--epochs", [&c](const int& v) { c.epochs = v; },
                                "Epochs of updates; default 14 (paper-mnist), 20 (vit). With --resume it may extend a "
                                "finished run, except under the cosine schedule (it spans the planned epochs)");
  add_recipe_options(cmd, c.recipe);
  add_router_options(cmd, c.routing);
  cmd->add_option("--seed", c.seed, "Seed of the initialisation, of the shuffles, of the shifts and of --train-size's subset")
      ->capture_default_str();
  cmd->add_option_function<int>("--train-size", [&c](const int& v) { c.train_size = v; },
                                "Train on N of the training images: a class-stratified subset drawn with --seed "
                                "(N/10 per class, the remainder to the lowest classes; a class with too few images "
                                "is taken whole and the rest spread over the others), kept in file order; default: "
                                "all. Recorded in config.json");
  cmd->add_option("--val-size", c.val_size,
                  "Hold out the last V training images (after --train-size) for validation: train.csv gains "
                  "val_loss and val_accuracy; 0 = none")
      ->capture_default_str();
  cmd->add_option_function<int>("--epoch-updates", [&c](const int& v) { c.epoch_updates = v; },
                                "Updates per epoch, cycling through the training images (file order or reshuffled "
                                "passes, continued across epochs); default: one pass per epoch. Keeps the number of "
                                "updates fixed across --train-size");
  cmd->add_flag("--eval-train", c.eval_train,
                "After every epoch also evaluate on the model's own training images: train.csv gains fit_loss and "
                "fit_accuracy (train_loss/train_accuracy are running means during the epoch)");
  cmd->add_option("--threads", c.threads, "Threads of OpenBLAS and of the engine's own pool (recorded in train.csv and config.json)")
      ->capture_default_str();
  cmd->add_option("--out", c.out, "Run directory to create (refused if it already holds a run, unless --resume)")
      ->required();
  cmd->add_flag("--resume", c.resume,
                "Continue the run in --out from its last completed epoch; the settings must match");
  cmd->add_flag("--quiet", c.quiet, "No progress on stderr");
  cmd->add_flag("--log-routing", c.log_routing,
                "Write RUN/routing.csv: the routing statistics of `softmoe analyze` for every MoE layer on the test "
                "set before training (epoch 0) and after every epoch, plus expert_change_rate (share of test inputs "
                "whose top-k experts changed since the previous epoch, k = n/8, n/4, n/2)");
  add_vit_options(cmd, c.vit);
  cmd->add_option("--expert-params", c.vit.expert_params,
                  "vit: expert weight budget per MoE layer P; each expert's hidden width is floor(P / (2 n dim)), so n "
                  "varies at a constant budget; 0 = use --expert-hidden")
      ->capture_default_str()
      ->group("ViT (--model vit)");
  return cmd;
}

}  // namespace softmoe::cli
