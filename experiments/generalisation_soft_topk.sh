#!/usr/bin/env bash
# The Soft MoE runs of experiments/generalisation.sh evaluated at top-k, on their own training subset
# and on the test set, so that their gap can be set beside Tokens Choice's at the same k: for every
# finished Soft MoE run, `specialize --split train` and `--split test` with --k 1,2,4 --methods all,topk
# (the paper's top-k heuristic: per input, the k experts with the largest summed combine weights).
# Writes results/generalisation/soft-topk-WIDTH.csv (experts, train_size, seed, method, k,
# fit_accuracy, test_accuracy, gap_accuracy) and its summary over seeds. Resumable (per run and split).
# Usage: experiments/generalisation_soft_topk.sh [OUT_DIR]   (WIDTH as for generalisation.sh)
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-results/generalisation}
width=${WIDTH:-fixed}
runs=runs/generalisation-$width
make build > /dev/null
mkdir -p "$out"
for run in "$runs"/seed*-soft/runs/*; do
  [ -f "$run/train.csv" ] && [ "$(($(wc -l < "$run/train.csv") - 1))" = 14 ] || continue
  for split in train test; do
    [ -f "$run/specialize-$split-topk.csv" ] && continue
    build/softmoe specialize --run "$run" --split "$split" --k 1,2,4 --methods all,topk --threads 1 --quiet \
      --out "$run/specialize-$split-topk.csv" > /dev/null
  done
done
/usr/bin/python3 - "$runs" "$out/soft-topk-$width.csv" <<'PY'
import csv, glob, os, re, sys
runs, target = sys.argv[1:]
rows = []
for run in sorted(glob.glob(os.path.join(runs, "seed*-soft", "runs", "*"))):
    m = re.search(r"experts(\d+)_.*train_size(\d+)_seed(\d+)$", run)
    paths = [os.path.join(run, f"specialize-{s}-topk.csv") for s in ("train", "test")]
    if not m or not all(os.path.exists(p) for p in paths):
        continue
    acc = []
    for p in paths:
        with open(p, newline="") as f:
            acc.append({(r["method"], r["k"]): float(r["accuracy"]) for r in csv.DictReader(f)})
    for (method, k), fit in acc[0].items():
        test = acc[1][(method, k)]
        rows.append([m.group(1), m.group(2), m.group(3), method, k, repr(fit), repr(test), repr(fit - test)])
rows.sort(key=lambda r: (int(r[0]), int(r[1]), r[3], int(r[4]), int(r[2])))
with open(target + ".tmp", "w", newline="") as f:
    w = csv.writer(f, lineterminator="\n")
    w.writerow(["experts", "train_size", "seed", "method", "k", "fit_accuracy", "test_accuracy", "gap_accuracy"])
    w.writerows(rows)
os.replace(target + ".tmp", target)
PY
/usr/bin/python3 experiments/seed_summary.py "$out/soft-topk-$width.csv" "$out/soft-topk-$width-summary.csv" \
  --by experts,train_size,method,k --metrics fit_accuracy,test_accuracy,gap_accuracy
echo "wrote $out/soft-topk-$width.csv" >&2
