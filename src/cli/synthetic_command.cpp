#include "commands.hpp"

namespace softmoe::cli {

CLI::App* add_synthetic_command(CLI::App& app, SyntheticConfig& c) {
  auto* cmd = app.add_subcommand(
      "synthetic",
      "The representation experiment (Theorem 1): at a fixed total expert parameter count, train one Soft MoE "
      "per (experts, seed) to regress a norm-like target of X (m tokens x d dims) and report train/test MSE. "
      "Model: Soft MoE -> flatten -> Linear(m*d -> 1), Adam on MSE, batches reshuffled every epoch.");
  cmd->add_option("--target", c.target, "Target: norm = ||X||_F, sqnorm = ||X||_F^2, maxnorm = largest token norm")
      ->transform(enum_names(kSyntheticTargetNames))
      ->default_str(to_string(c.target));
  cmd->add_option("--tokens", c.tokens, "Tokens m per example")->capture_default_str();
  cmd->add_option("--dim", c.dim, "Token dimension d (the experts map d -> d)")->capture_default_str();
  cmd->add_option("--min-length", c.min_length, "Each token is a random unit direction times a length "
                                                "uniform in [--min-length, --max-length]")
      ->capture_default_str();
  cmd->add_option("--max-length", c.max_length, "See --min-length")->capture_default_str();
  cmd->add_option("--experts", c.experts, "Comma-separated numbers of experts n, one model each")
      ->delimiter(',')
      ->default_str("1,2,4,8,16,32");
  cmd->add_option("--slots", c.slots, "Slots p per expert")->capture_default_str();
  cmd->add_option("--expert-params", c.expert_params,
                  "Total expert weight budget P: each expert's hidden width is floor(P / (n * (d_in + d_out))) "
                  "= floor(P / (2 n d)); a width of 0 is an error")
      ->capture_default_str();
  cmd->add_option("--normalize", c.normalize,
                  "Router normalisation: none; router (experts see raw tokens); all (experts see unit tokens)")
      ->transform(enum_names(kNormalizeNames))
      ->default_str(to_string(c.normalize));
  cmd->add_option("--phi-init", c.phi_init, "Router weights Phi: normal (std 1/sqrt(d)) or uniform [-1, 1]")
      ->transform(enum_names(kPhiInitNames))
      ->default_str(to_string(c.phi_init));
  cmd->add_option("--activation", c.activation, "Expert activation: relu or gelu (exact)")
      ->transform(enum_names(kActivationNames))
      ->default_str(to_string(c.activation));
  cmd->add_option("--expert-bias", c.expert_bias, "Biases in the experts' two Linear layers (true/false)")
      ->capture_default_str();
  cmd->add_option("--seeds", c.seeds, "Comma-separated seeds; each seeds data, initialisation and shuffling")
      ->delimiter(',')
      ->default_str("0,1,2");
  cmd->add_option("--train-size", c.train_size, "Training examples (drawn per seed)")->capture_default_str();
  cmd->add_option("--test-size", c.test_size, "Test examples (drawn per seed, independently)")->capture_default_str();
  cmd->add_option("--epochs", c.epochs, "Passes over the training set")->capture_default_str();
  cmd->add_option("--batch", c.batch, "Mini-batch size")->capture_default_str();
  cmd->add_option("--lr", c.lr, "Adam learning rate")->capture_default_str();
  cmd->add_option("--threads", c.threads, "Threads of OpenBLAS and of the engine's own pool (recorded in every row)")->capture_default_str();
  cmd->add_option("--out", c.out, "CSV file to write, one row per (experts, seed); written atomically at the end");
  cmd->add_flag("--quiet", c.quiet, "No per-model progress lines on stderr");
  return cmd;
}

}  // namespace softmoe::cli
