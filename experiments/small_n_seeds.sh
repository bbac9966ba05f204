#!/usr/bin/env bash
# Small n gets the care of large n: the paper's MNIST model at n = 2 and 4 experts, seeds 0-9, every k
# (1..n-1) by top-k against 10 random trials (and the exact oracle), to tell whether softmoe's top-1
# retention at n = 2 really differs from the paper's code (issue 15; seeds 0-2 of that code: 78.3%,
# 78.5%, 72.5% top-1). The sweep's summary.csv holds mean, sd and 95% t-intervals over the seeds.
# Resumable: rerun the same command after an interruption.
# Usage: experiments/small_n_seeds.sh [OUT_DIR]   (default results/small-n; the sweep lives in runs/)
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-results/small-n}
make build
mkdir -p "$out"
build/softmoe sweep --task mnist --model paper-mnist --experts 2,4 --seeds 0,1,2,3,4,5,6,7,8,9 \
  --specialize all --methods all,topk,random,oracle --threads 1 --jobs "${JOBS:-1}" --out runs/mnist-small-n
for f in results.csv summary.csv sweep.json; do
  if [ -f "runs/mnist-small-n/$f" ]; then cp "runs/mnist-small-n/$f" "$out/$f"; fi
done
