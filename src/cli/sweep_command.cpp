#include "commands.hpp"

namespace softmoe::cli {

CLI::App* add_sweep_command(CLI::App& app, SweepConfig& c, SweepMergeConfig& merge, CLI::App** merge_cmd) {
  auto* cmd = app.add_subcommand(
      "sweep",
      "Run a grid of experiments into one directory: every combination of --experts, --seeds, --lr and "
      "--expert-params (synthetic) or --expert-hidden (image tasks), in that order. Image tasks run `softmoe train` "
      "per point (and `softmoe specialize` with --specialize); results.csv has one row per (point, method, k) with "
      "every swept setting as a column. Resumable: finished points (DIR/points/*.csv) are never rerun; a different "
      "command on the same DIR is refused. Shardable: --shard i/N runs every N-th point; `softmoe sweep merge` joins "
      "the shards into the results.csv of an unsharded run.");
  cmd->add_option("--task", c.task, "mnist, fashion-mnist or synthetic")
      ->transform(enum_names(kSweepTaskNames))
      ->default_str(to_string(c.task));
  cmd->add_option("--model", c.model, "Model of the image tasks: paper-mnist or vit (the flags of the ViT and the "
                                      "recipe below are those of `softmoe train`)")
      ->transform(enum_names(kModelNames))
      ->default_str(to_string(c.model));
  cmd->add_option("--experts", c.experts, "Numbers of experts (list)")->delimiter(',')->default_str("2,4,...,512");
  cmd->add_option("--seeds", c.seeds, "Seeds (list)")->delimiter(',')->default_str("0");
  cmd->add_option("--lr", c.lr, "Learning rates (list); default: the task's")->delimiter(',');
  cmd->add_option("--expert-params", c.expert_params, "Synthetic: expert parameter budgets (list; default 8192); --model vit: expert weight budgets per MoE "
                  "layer (list; hidden width floor(P / (2 n dim)))")
      ->delimiter(',');
  cmd->add_option("--expert-hidden", c.expert_hidden, "Image tasks: expert hidden widths (list); default: the model's (int(784/n) for paper-mnist)")
      ->delimiter(',');
  cmd->add_option("--train-sizes", c.train_sizes,
                  "Image tasks: training-set sizes (list; each point runs `train --train-size N`, a class-stratified "
                  "subset drawn with the point's seed); default: all images")
      ->delimiter(',');
  cmd->add_option("--val-size", c.val_size, "Image tasks: `train --val-size` of every point; 0 = none")
      ->capture_default_str();
  cmd->add_option("--epoch-updates", c.epoch_updates,
                  "Image tasks: `train --epoch-updates` of every point (a fixed number of updates across "
                  "--train-sizes); 0 = one pass per epoch")
      ->capture_default_str();
  cmd->add_flag("--eval-train", c.eval_train,
                "Image tasks: `train --eval-train`; results.csv gains fit_loss, fit_accuracy (the final model on its "
                "own training images), gap_loss = test_loss - fit_loss and gap_accuracy = fit_accuracy - test_accuracy");
  cmd->add_option("--epochs", c.epochs, "Epochs per point; 0 = the default (14 paper-mnist, 20 vit, 200 synthetic)")
      ->capture_default_str();
  cmd->add_option("--specialize", c.specialize, "Image tasks: run `specialize --k LIST` on every point (e.g. 1/2,1/4,1/8)");
  cmd->add_option("--methods", c.methods, "Methods for --specialize (list)")
      ->delimiter(',')
      ->transform(enum_names(kSelectionMethodNames))
      ->default_str("all,topk,random");
  cmd->add_option("--random-trials", c.random_trials, "Random trials for --specialize")->capture_default_str();
  cmd->add_option("--data-dir", c.data_dir, "Image tasks: the dataset directory (default: the dataset's own)");
  cmd->add_option("--threads", c.threads, "Threads (OpenBLAS and the engine's pool) of each point")->capture_default_str();
  cmd->add_option("--jobs", c.jobs, "Points run at once, each in its own process with --threads threads")
      ->capture_default_str();
  cmd->add_option("--shard", c.shard, "i/N: run only the points whose index % N == i (0-based)")->capture_default_str();
  cmd->add_option("--out", c.out, "Sweep directory");
  cmd->add_flag("--quiet", c.quiet, "Only failures on stderr");
  cmd->add_option("--point", c.point, "Internal: run one point of the grid (used by worker processes)")->group("");
  add_recipe_options(cmd, c.recipe);
  add_vit_options(cmd, c.vit);
  add_router_options(cmd, c.routing);
  cmd->require_subcommand(0, 1);

  *merge_cmd = cmd->add_subcommand("merge", "Merge the directories of `sweep --shard i/N` runs into --out: the "
                                            "same results.csv an unsharded sweep writes. Refuses shards of different "
                                            "sweeps, missing, duplicated or unfinished shards.");
  (*merge_cmd)->add_option("--out", merge.out, "Directory of the merged sweep")->required();
  (*merge_cmd)->add_option("shards", merge.shards, "Shard directories")->required();
  return cmd;
}

}  // namespace softmoe::cli
