#!/usr/bin/env bash
# The Soft MoE ViT recipe on Fashion-MNIST (issue #7), and the dense ViT with the same recipe.
# Patch 7 (16 patches + a class token = 17 tokens), dim 64, depth 4, heads 4; Soft MoE in blocks 2 and 3
# (the default last half) with 16 experts of hidden 64, 1 slot, residual kept; AdamW 2e-3, weight decay
# 0.05, cosine schedule with 0.5 epochs of linear warm-up, batch 128, label smoothing 0.1, random shifts of
# up to 2 pixels, 15 epochs, seed 0, 2 threads. The dense baseline (--experts 0) keeps MLPs of hidden 256
# in every block.
# Writes OUT/softmoe and OUT/dense (run directories: train.csv, model.safetensors, config.json; the
# resume state optimizer.safetensors is not committed) and OUT/summary.csv (final test accuracy and the
# sum of train_seconds per run). Resumable: rerun after an interruption.
# Usage: experiments/fashion_mnist_vit.sh [OUT]   (default results/fashion-mnist-vit)
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-results/fashion-mnist-vit}
threads=${THREADS:-2}
softmoe=${SOFTMOE:-build/softmoe}
[ -x "$softmoe" ] || make build
mkdir -p "$out"
recipe=(--dataset fashion-mnist --model vit --patch 7 --dim 64 --depth 4 --heads 4 --epochs 15 --seed 0
        --threads "$threads")

# train NAME FLAGS...: into OUT/NAME, resuming an interrupted run; a finished run (15 epochs in
# train.csv, e.g. the committed results) is left alone: give another OUT to train from scratch.
train() {
  local name=$1; shift
  [ -f "$out/$name/train.csv" ] && [ "$(($(wc -l < "$out/$name/train.csv") - 1))" -ge 15 ] && return 0
  local resume=()
  [ -f "$out/$name/optimizer.safetensors" ] && resume=(--resume)
  "$softmoe" train "${recipe[@]}" "$@" --out "$out/$name" "${resume[@]}"
}
train softmoe --experts 16 --expert-hidden 64
train dense --experts 0

{
  echo "run,experts,expert_hidden,parameters,expert_parameters,epochs,test_accuracy,train_seconds_sum,threads"
  for name in softmoe dense; do
    params=$(grep -m1 '"parameters"' "$out/$name/config.json" | tr -dc '0-9')
    eparams=$(grep -m1 '"expert_parameters"' "$out/$name/config.json" | tr -dc '0-9')
    experts=$(grep -m1 '"experts"' "$out/$name/config.json" | tr -dc '0-9')
    hidden=$(grep -m1 '"expert_hidden"' "$out/$name/config.json" | tr -dc '0-9')
    awk -F, -v n="$name" -v e="$experts" -v h="$hidden" -v p="$params" -v ep="$eparams" \
      'NR > 1 { s += $6; acc = $5; ep_ = $1; t = $9 } END { printf "%s,%s,%s,%s,%s,%d,%s,%.1f,%s\n", n, e, h, p, ep, ep_, acc, s, t }' \
      "$out/$name/train.csv"
  done
} > "$out/summary.csv.tmp" && mv "$out/summary.csv.tmp" "$out/summary.csv"
column -s, -t "$out/summary.csv"
