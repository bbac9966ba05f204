#!/usr/bin/env bash
# The paper's MNIST recipe (reference note, section 4) at n = 8 experts, seeds 0-2, each checked in
# PyTorch: the checkpoint is rebuilt from its tensor names and must give the same test accuracy.
# Usage: experiments/mnist_recipe.sh [OUT_DIR]   (default results/mnist-recipe)
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-results/mnist-recipe}
make build
mkdir -p "$out"
summary="$out/summary.csv"
echo "experts,seed,epochs,test_accuracy,pytorch_check,threads" > "$summary.tmp"
for seed in 0 1 2; do
  run="runs/mnist-n8-s$seed"
  [ -f "$run/model.safetensors" ] || build/softmoe train --dataset mnist --model paper-mnist --experts 8 \
    --seed "$seed" --threads 1 --out "$run"
  cp "$run/train.csv" "$out/train-n8-s$seed.csv"
  check=$(/usr/bin/python3 tests/reference/check_checkpoint.py "$run" 2>&1 || true)
  accuracy=$(tail -1 "$run/train.csv" | cut -d, -f5)
  echo "8,$seed,14,$accuracy,\"$check\",1" >> "$summary.tmp"
done
mv "$summary.tmp" "$summary"
cat "$summary"
