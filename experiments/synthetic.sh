#!/usr/bin/env bash
# The representation experiment at its documented defaults (README, "softmoe synthetic"):
# 8 tokens of 16 dims, target ||X||_F, expert budget 8192, n = 1..32, seeds 0-2, 200 epochs.
# Usage: experiments/synthetic.sh [OUT_DIR]   (default results/synthetic)
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-results/synthetic}
make build
mkdir -p "$out"
build/softmoe synthetic --experts 1,2,4,8,16,32 --seeds 0,1,2 --threads 1 --out "$out/synthetic.csv" \
  | tee "$out/summary.txt"
