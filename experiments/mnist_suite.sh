#!/usr/bin/env bash
# The paper's MNIST suite (reference note, sections 3-5): n = 2..512 experts at a fixed total expert
# width (hidden = int(784 / n)), the paper's recipe (14 epochs, seed 0), then expert subset selection
# at k = n/2, n/4, n/8 (top-k against 10 random trials, and the oracle where affordable).
# Resumable: rerun the same command after an interruption. JOBS=2 runs two points at once.
# Usage: experiments/mnist_suite.sh [OUT_DIR]   (default results/mnist-suite; the sweep lives in runs/)
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-results/mnist-suite}
dataset=${DATASET:-mnist}
make build
mkdir -p "$out"
build/softmoe sweep --task "$dataset" --model paper-mnist --experts 2,4,8,16,32,64,128,256,512 --seeds 0 \
  --specialize 1/2,1/4,1/8 --methods all,topk,random,oracle --threads 1 --jobs "${JOBS:-1}" \
  --out "runs/$dataset-suite"
cp "runs/$dataset-suite/results.csv" "$out/results.csv"
cp "runs/$dataset-suite/sweep.json" "$out/sweep.json"
