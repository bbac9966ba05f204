#include "commands.hpp"

namespace softmoe::cli {

CLI::App* add_specialize_command(CLI::App& app, SpecializeConfig& c) {
  auto* cmd = app.add_subcommand(
      "specialize",
      "Expert subset selection on a trained run (Algorithms 1 and 2 of Chung et al.): per test input keep k "
      "experts, evaluate only those (each expert once per batch, on the inputs that kept it) and report accuracy, "
      "work and wall time. Methods: all (every expert); topk (the k experts with the most combine weight, original "
      "C); topk-renorm (C renormalised over kept slots); random (k uniform experts, seeded trials); oracle (does any "
      "k-subset classify the input correctly, and is top-k one of them; exact enumeration; paper-mnist only). On a "
      "ViT run (train --model vit) the subset is chosen per input in every Soft MoE layer; the default method list "
      "then skips the oracle with a message, and a dense ViT is refused. FLOP columns are per input; one CSV row per "
      "(method, k, trial).");
  cmd->add_option("--run", c.run, "Run directory written by `softmoe train`")->required();
  cmd->add_option("--k", c.k, "Subset sizes: integers, fractions of n (1/2,1/4,1/8) or all (= 1..n-1)")
      ->capture_default_str();
  cmd->add_option("--methods", c.methods, "Comma-separated: all, topk, topk-renorm, random, oracle (not for a ViT)")
      ->delimiter(',')
      ->transform(enum_names(kSelectionMethodNames))
      ->default_str("all,topk,random,oracle");
  cmd->add_option("--random-trials", c.random_trials, "Seeded random trials (seeds 0..T-1); mean and sample std")
      ->capture_default_str();
  cmd->add_option("--oracle-budget", c.oracle_budget,
                  "Largest C(n, k) x inputs the oracle may enumerate; above it, --oracle-inputs inputs; above that, "
                  "skipped")
      ->capture_default_str();
  cmd->add_option("--oracle-inputs", c.oracle_inputs, "Test inputs (the first ones) the oracle covers when the "
                                                      "whole test set exceeds its budget")
      ->capture_default_str();
  cmd->add_option("--batch", c.batch, "Inputs per batch")->capture_default_str();
  cmd->add_option("--threads", c.threads, "Threads of OpenBLAS and of the engine's own pool (recorded in every row)")->capture_default_str();
  cmd->add_option("--data-dir", c.data_dir, "Read the test set from here instead of the run's own data directory");
  cmd->add_option("--split", c.split,
                  "Images to evaluate: test (the test split) or train (the run's own training images: its "
                  "--train-size subset without its --val-size hold-out, rebuilt from config.json)")
      ->transform(enum_names(kEvalSplitNames))
      ->default_str(to_string(c.split));
  cmd->add_option("--out", c.out, "CSV to write (default: RUN/specialize.csv, with --split train "
                                  "RUN/specialize-train.csv), atomically");
  cmd->add_flag("--quiet", c.quiet, "No per-evaluation progress lines on stderr");
  return cmd;
}

}  // namespace softmoe::cli
