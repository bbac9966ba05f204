#include "commands.hpp"

namespace softmoe::cli {

CLI::App* add_analyze_command(CLI::App& app, AnalyzeConfig& c) {
  auto* cmd = app.add_subcommand(
      "analyze",
      "Routing statistics of every MoE layer of a trained run (any model, any router) on its test set. Per input, "
      "its routing vector w over the n experts is the mean over its tokens of each token's combine weight on the "
      "expert (Soft MoE: C summed over the expert's slots; sparse routers: the gate). Statistics: entropy (mean "
      "H(w)/ln n), top10_mass (mass of the ceil(n/10) largest w_j), importance_cv2 and load_cv2 (CV2 of the summed "
      "weights and of the inputs' top-1 counts), switch_balance (n sum f P over tokens, 1 balanced), class_mi "
      "(I(E;Y)/H(Y): 1 when each class has its own expert), class_entropy (H(E|Y)/ln n), max_combine (mean "
      "largest combine weight per token), max_dispatch (Soft MoE: mean largest dispatch weight per slot), "
      "class_expert_in_topk at k = n/8, n/4, n/2 (share of inputs whose top-k experts hold the expert their class "
      "uses most). CSV: one row per (layer, statistic, k), k empty for statistics without one; a table on stdout.");
  cmd->add_option("--run", c.run, "Run directory written by `softmoe train`")->required();
  cmd->add_option("--out", c.out, "CSV to write (default: RUN/analyze.csv), atomically");
  cmd->add_option("--data-dir", c.data_dir, "Read the test set from here instead of the run's own data directory");
  cmd->add_option("--batch", c.batch, "Inputs per forward pass (a sparse router's run is read in its training batches)")
      ->capture_default_str();
  cmd->add_option("--threads", c.threads, "Threads of OpenBLAS and of the engine's own pool (recorded in every row)")
      ->capture_default_str();
  cmd->add_flag("--quiet", c.quiet, "No table on stdout (only the line naming the CSV)");
  return cmd;
}

}  // namespace softmoe::cli
