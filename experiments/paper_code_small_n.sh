#!/usr/bin/env bash
# The paper's own MNIST code at small n, to compare with softmoe's small-n sweep (small_n_seeds.sh):
# Chung et al., "Beyond Parameter Count", YoungseogChung/beyond-param-count, mnist_experiments/,
# run with commit bd47c9c. For n = 2 and 4 experts and seeds 0-9 it trains their suite's model
# (train_mnist_model_suite.py: Adam 1e-3, batch 256, 15 epochs of which the first takes no step,
# expert_fn_multiplier 4/n, normalized Soft MoE input; only the seed changes) and evaluates the
# epoch-14 checkpoint as their experiment scripts do: all experts, their top-k heuristic and their
# random baseline (mean of 10 trials) for every k in 1..n-1. See experiments/paper_code_eval.py.
# Needs Debian's python3-torch, python3-torchvision, python3-numpy, python3-tqdm, python3-matplotlib.
# Patches to their copy (in place, idempotent): download=True -> download=False in
# models_and_data/mnist.py, so the MNIST IDX files copied from data/mnist are the only data.
# einops (not in Debian) is replaced by a small shim inside paper_code_eval.py.
# Resumable: (experts, seed) pairs already in the CSV are skipped; the CSV is rewritten atomically.
# One process at a time, one thread.
# Usage: experiments/paper_code_small_n.sh MNIST_EXPERIMENTS_DIR [OUT_CSV]
#        (OUT_CSV defaults to results/small-n/paper-code.csv in this repository)
# Environment: EXPERTS (default "2 4"), SEEDS (default "0 1 2 3 4 5 6 7 8 9"), DATASET (mnist, the
#   default, or fashion-mnist: Debian's Fashion-MNIST IDX files are put where their code reads MNIST,
#   so use a separate copy of mnist_experiments for each dataset; the script refuses to mix them).
#   e.g. git -C <mirror> archive bd47c9c mnist_experiments | tar -x -C /work/paper-code
#        experiments/paper_code_small_n.sh /work/paper-code/mnist_experiments
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
code=$(cd "${1:?usage: $0 MNIST_EXPERIMENTS_DIR [OUT_CSV]}" && pwd)
out=${2:-$repo/results/small-n/paper-code.csv}
case $out in /*) ;; *) out=$PWD/$out ;; esac
python=${PYTHON:-/usr/bin/python3}
export OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 MKL_NUM_THREADS=1 MPLBACKEND=Agg

experts=${EXPERTS:-2 4}
seeds=${SEEDS:-0 1 2 3 4 5 6 7 8 9}
dataset=${DATASET:-mnist}
case $dataset in
  mnist) source_dir=$repo/data/mnist ;;
  fashion-mnist) source_dir=/usr/share/datasets/fashion-mnist; make -C "$repo" data >/dev/null ;;
  *) echo "DATASET must be mnist or fashion-mnist, not '$dataset'" >&2; exit 2 ;;
esac

# Data: the four IDX files, unzipped, where torchvision's MNIST(root=<code>/data/mnist) looks.
raw=$code/data/mnist/MNIST/raw
mkdir -p "$raw"
if [ -s "$raw/dataset" ] && [ "$(cat "$raw/dataset")" != "$dataset" ]; then
  echo "$raw holds $(cat "$raw/dataset"), not $dataset: use another copy of mnist_experiments" >&2; exit 2
fi
echo "$dataset" > "$raw/dataset"
for f in train-images-idx3-ubyte train-labels-idx1-ubyte t10k-images-idx3-ubyte t10k-labels-idx1-ubyte; do
  if [ ! -s "$raw/$f" ]; then
    gunzip -c "$source_dir/$f.gz" > "$raw/$f.tmp"
    mv -f "$raw/$f.tmp" "$raw/$f"
  fi
done

# Patch: never download.
sed -i 's/download=True/download=False/' "$code/models_and_data/mnist.py"
grep -q 'download=True' "$code/models_and_data/mnist.py" && { echo "patch failed" >&2; exit 1; }

mkdir -p "$(dirname "$out")"
header=source,experts,seed,method,k,accuracy,threads
[ -s "$out" ] || { echo "$header" > "$out.tmp.$$" && mv "$out.tmp.$$" "$out"; }
for n in $experts; do
  for seed in $seeds; do
    if grep -q "^paper-code,$n,$seed," "$out"; then echo "skip n=$n seed=$seed"; continue; fi
    log=$code/logs/small_n/seed_$seed/ne_$n.log
    mkdir -p "$(dirname "$log")"
    start=$(date +%s)
    "$python" "$repo/experiments/paper_code_eval.py" "$code" --experts "$n" --seed "$seed" \
      --save-root logs/small_n --threads 1 > "$log" 2>&1 || { echo "failed: see $log" >&2; exit 1; }
    tail -n 1 "$log" > "$log.json"
    tmp=$out.tmp.$$
    cp "$out" "$tmp"
    "$python" - "$log.json" >> "$tmp" <<'EOF'
import json, sys
r = json.load(open(sys.argv[1]))
for row in r["rows"]:
    print(f'paper-code,{r["experts"]},{r["seed"]},{row["method"]},{row["k"]},{row["accuracy"]!r},{r["threads"]}')
EOF
    mv -f "$tmp" "$out"
    echo "n=$n seed=$seed done in $(( $(date +%s) - start )) s: $(grep "^paper-code,$n,$seed," "$out" | cut -d, -f4-6 | tr '\n' ' ')"
  done
done
