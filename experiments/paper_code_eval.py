#!/usr/bin/env python3
"""Train and evaluate one Soft MoE MNIST model with the paper's own code.

Driver for experiments/paper_code_small_n.sh: it imports the modules of
Chung et al.'s repository (YoungseogChung/beyond-param-count, mnist_experiments/,
run with commit bd47c9c), and none of their code is copied here.

  1. Training: run_soft_moe.main(args), with args the Namespace that
     train_mnist_model_suite.py builds (checked below to be field for field the same
     as models_and_data/mnist_model_config.py, the one their experiment scripts load),
     with num_experts = n, expert_fn_multiplier = 4 / n, name = "ne_{n}" as in their suite
     loop. Only the seed changes.
  2. Evaluation, following experiment_scripts/run_heuristic_on_mnist_models.py and
     run_random_dropping_on_mnist_models.py: load checkpoint ep14 (USE_EP = 14) into a
     freshly built model, get the all-expert accuracy with get_model_predictions_on_loader,
     then for every num_drop in 1..n-1 (k = n - num_drop experts kept), on batches of 5000:
       topk:   their heuristic (drop the num_drop experts with the least summed C weight),
               through get_model_predictions_with_heuristic;
       random: 10 trials (rand_i = 0..9, np.random.seed(rand_i), torch.manual_seed(rand_i)),
               each dropping np.random.choice(n, num_drop, replace=False) experts per example,
               through SoftMoeModel.expert_masked_forward; the accuracy reported is the mean
               of the 10 trial accuracies (each trial's accuracy also goes into the JSON).
Two things in their scripts cannot run as committed and are worked around here, not patched:
  * both scripts unpack 4 values (`h_pred, _, _, _ = ...`), but get_model_predictions_with_heuristic
    returns 2 (pred, aux_info), and get_model_predictions_on_input_with_mask itself unpacks 4 from
    expert_masked_forward, which returns 2: we take pred from get_model_predictions_with_heuristic,
    and call expert_masked_forward with the same arguments the mask helper passes;
  * both move the model to torch.device("cuda"); here everything stays on the CPU.
einops is not packaged in Debian: a minimal Rearrange (the only einops name they use) is installed
into sys.modules before their modules are imported.

Prints one JSON object on stdout's last line.
Usage: paper_code_eval.py CODE_DIR --experts N --seed S [--save-root logs/small_n]
"""
import argparse
import ast
import copy
import json
import math
import os
import sys
import time
import types


def install_einops_shim():
    """sys.modules['einops.layers.torch'].Rearrange: pure reshape/permute, for the
    patterns in their data_utils.py (groups in parentheses, sizes given as keywords)."""
    import torch

    def parse(side):
        groups, cur, depth = [], None, 0
        for tok in side.replace("(", " ( ").replace(")", " ) ").split():
            if tok == "(":
                cur = []
            elif tok == ")":
                groups.append(cur)
                cur = None
            elif cur is not None:
                cur.append(tok)
            else:
                groups.append([tok])
        return groups

    class Rearrange(torch.nn.Module):
        def __init__(self, pattern, **sizes):
            super().__init__()
            left, right = pattern.split("->")
            self.left, self.right = parse(left), parse(right)
            self.sizes = dict(sizes)
            lflat = [a for g in self.left for a in g]
            rflat = [a for g in self.right for a in g]
            assert sorted(lflat) == sorted(rflat), pattern
            self.lflat, self.rflat = lflat, rflat

        def forward(self, x):
            assert x.dim() == len(self.left), (x.shape, self.left)
            sizes = dict(self.sizes)
            for dim, g in zip(x.shape, self.left):
                unknown = [a for a in g if a not in sizes]
                known = math.prod(sizes[a] for a in g if a in sizes)
                assert len(unknown) <= 1, g
                if unknown:
                    assert dim % known == 0
                    sizes[unknown[0]] = dim // known
                else:
                    assert known == dim, (g, dim)
            x = x.reshape([sizes[a] for a in self.lflat])
            x = x.permute([self.lflat.index(a) for a in self.rflat])
            return x.reshape([math.prod(sizes[a] for a in g) for g in self.right])

    einops = types.ModuleType("einops")
    layers = types.ModuleType("einops.layers")
    layers_torch = types.ModuleType("einops.layers.torch")
    layers_torch.Rearrange = Rearrange
    einops.layers, layers.torch = layers, layers_torch
    sys.modules.update({"einops": einops, "einops.layers": layers, "einops.layers.torch": layers_torch})


def suite_args(code_dir):
    """The Namespace literal in train_mnist_model_suite.py (read with ast, since importing
    it trains all nine models); it must equal mnist_model_config.args."""
    src = open(os.path.join(code_dir, "train_mnist_model_suite.py")).read()
    for node in ast.walk(ast.parse(src)):
        if (isinstance(node, ast.Call) and getattr(node.func, "attr", None) == "Namespace"):
            return argparse.Namespace(**{kw.arg: ast.literal_eval(kw.value) for kw in node.keywords})
    raise RuntimeError("no argparse.Namespace(...) in train_mnist_model_suite.py")


def main():
    p = argparse.ArgumentParser()
    p.add_argument("code_dir")
    p.add_argument("--experts", type=int, required=True)
    p.add_argument("--seed", type=int, required=True)
    p.add_argument("--save-root", default="logs/small_n")
    p.add_argument("--threads", type=int, default=1)
    opt = p.parse_args()

    code_dir = os.path.abspath(opt.code_dir)
    os.chdir(code_dir)
    sys.path.insert(0, code_dir)
    os.environ.setdefault("MPLBACKEND", "Agg")
    import torch
    torch.set_num_threads(opt.threads)
    torch.set_num_interop_threads(opt.threads)
    install_einops_shim()

    import numpy as np
    from run_soft_moe import main as train_main
    from models_and_data.mnist import construct_mnist_components
    from models_and_data.mnist_model_config import args as config_args
    from soft_moe.soft_moe_model import SoftMoeModel
    from soft_moe.soft_moe_utils import (
        make_phi, get_model_predictions_on_loader, get_model_predictions_with_heuristic)

    base = suite_args(code_dir)
    assert vars(base) == vars(config_args), "suite and config Namespaces differ"
    ne = opt.experts

    def make_args():
        a = copy.deepcopy(base)
        a.num_experts = ne
        a.expert_fn_multiplier = 4 / ne
        a.name = f"ne_{ne}"
        a.seed = opt.seed
        a.save_dir = os.path.join(opt.save_root, f"seed_{opt.seed}")
        return a

    # 1. train, exactly their main()
    t0 = time.time()
    train_main(make_args())
    train_seconds = time.time() - t0

    # 2. evaluate, as their experiment scripts do (CPU only)
    t1 = time.time()
    device = torch.device("cpu")
    args = make_args()
    log_dir = os.path.join(args.save_dir, args.name)
    comps = construct_mnist_components(args)
    phi = make_phi(args, device)
    expert_list = [comps["expert_fn"]().to(device) for _ in range(args.num_experts)]
    smoe = SoftMoeModel(
        num_experts=args.num_experts, num_slots=args.num_slots,
        expert_pred_dim=args.expert_out_dim, tokenizer=comps["patch_fn"],
        encoder=comps["encoder"], decoder=comps["decoder"], experts=expert_list,
        phi=phi, args=args)
    smoe.load(log_dir, "ep14")
    smoe.to(device)
    with torch.no_grad():
        # their scripts pass DEVICE as the 3rd positional argument, i.e. return_x (truthy)
        orig = get_model_predictions_on_loader(smoe, comps["te_loader"], True)
    all_x, all_y = orig["x"], orig["y"]
    orig_acc = float(np.mean(orig["pred"].argmax(1) == all_y))
    all_x, all_y = torch.from_numpy(all_x), torch.from_numpy(all_y)
    val_loader = torch.utils.data.DataLoader(
        torch.utils.data.TensorDataset(all_x, all_y), batch_size=5000, shuffle=False)

    rows = [{"method": "all", "k": ne, "accuracy": orig_acc}]
    trials = {}
    for num_drop in range(1, ne):
        k = ne - num_drop
        preds, labels = [], []
        for x, y in val_loader:
            h_pred = get_model_predictions_with_heuristic(
                smoe=smoe, x=x, num_heuristic_drop=num_drop,
                return_y_tilde_ranks=False, return_y_tilde=False)[0]
            preds.append(h_pred.copy())
            labels.append(y.numpy().copy())
        acc = float(np.mean(np.concatenate(preds).argmax(1) == np.concatenate(labels)))
        rows.append({"method": "topk", "k": k, "accuracy": acc})

        accs = []
        for rand_i in range(10):
            np.random.seed(rand_i)
            torch.manual_seed(rand_i)
            preds, labels = [], []
            for x, y in val_loader:
                mask = np.stack([np.random.choice(ne, size=num_drop, replace=False)
                                 for _ in range(x.shape[0])])
                with torch.no_grad():
                    pred, _ = smoe.expert_masked_forward(
                        x, drop_expert_idxs=torch.from_numpy(mask), num_heuristic_drop=0,
                        return_embedding=True, return_xphi=True,
                        return_y_tilde_ranks=False, return_y_tilde=False)
                preds.append(pred.numpy().copy())
                labels.append(y.numpy().copy())
            accs.append(float(np.mean(np.concatenate(preds).argmax(1) == np.concatenate(labels))))
        trials[k] = accs
        rows.append({"method": "random", "k": k, "accuracy": float(np.mean(accs))})

    out = {"experts": ne, "seed": opt.seed, "threads": opt.threads, "rows": rows,
           "random_trials": trials, "train_seconds": round(train_seconds, 1),
           "eval_seconds": round(time.time() - t1, 1)}
    print(json.dumps(out))


if __name__ == "__main__":
    main()
