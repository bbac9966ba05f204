#!/usr/bin/env bash
# Sparse routers in the Soft MoE ViT on Fashion-MNIST: the recipe of experiments/fashion_mnist_vit.sh
# (patch 7: 17 tokens, dim 64, depth 4, heads 4, MoE in blocks 2 and 3 with 16 experts of hidden 64, the
# residual kept; AdamW 2e-3, cosine, 15 epochs, batch 128, label smoothing 0.1, shifts of 2 pixels) with
# the Soft MoE replaced by Tokens Choice K = 1, c = 1, BPR, and by Experts Choice c = 1 (groups of 8
# images: S = 136 tokens, C = 9 per expert), the same experts; Soft MoE and the dense ViT for comparison.
# Seed 0 of the Soft MoE and dense ViT is results/fashion-mnist-vit (the same command); other seeds run
# here. Each run about 10 minutes at 2 threads, 17 at 1.
# Usage: SEEDS="0 1 2" THREADS=1 experiments/routers_vit.sh [OUT]   (default results/routers-vit; SEEDS 0)
# Resumable: rerun after an interruption; finished runs are kept. OUT/summary.csv lists every run.
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-results/routers-vit}
threads=${THREADS:-2}
softmoe=${SOFTMOE:-build/softmoe}
[ -x "$softmoe" ] || make build
mkdir -p "$out"
recipe=(--dataset fashion-mnist --model vit --patch 7 --dim 64 --depth 4 --heads 4 --epochs 15 --threads "$threads")

train() {  # train NAME SEED FLAGS...
  local name=$1 seed=$2; shift 2
  local dir="$out/$name-seed$seed"
  [ -f "$dir/train.csv" ] && [ "$(($(wc -l < "$dir/train.csv") - 1))" -ge 15 ] && return 0
  local resume=()
  [ -f "$dir/optimizer.safetensors" ] && resume=(--resume)
  "$softmoe" train "${recipe[@]}" --seed "$seed" "$@" --out "$dir" "${resume[@]}"
}

for seed in ${SEEDS:-0}; do
  train tc-k1-bpr "$seed" --experts 16 --expert-hidden 64 --router tokens-choice --router-k 1 --capacity-factor 1 --bpr
  train ec-c1 "$seed" --experts 16 --expert-hidden 64 --router experts-choice --capacity-factor 1
  if [ "$seed" != 0 ]; then
    train soft "$seed" --experts 16 --expert-hidden 64
    train dense "$seed" --experts 0
  fi
done

# summary: one row per finished run (seed 0 of soft and dense from results/fashion-mnist-vit)
{
  echo "run,router,seed,test_accuracy,drop_rate,train_seconds_sum,threads"
  for dir in "$out"/*-seed* results/fashion-mnist-vit/softmoe results/fashion-mnist-vit/dense; do
    [ -f "$dir/train.csv" ] || continue
    name=$(basename "$dir")
    case $name in
      softmoe) name=soft-seed0 ;;
      dense) name=dense-seed0 ;;
    esac
    awk -F, -v run="${name%-seed*}" -v seed="${name##*-seed}" '
      NR == 1 { for (i = 1; i <= NF; i++) col[$i] = i; next }
      { acc = $col["test_accuracy"]; seconds += $col["train_seconds"]; threads = $col["threads"];
        drop = ("drop_rate" in col) ? $col["drop_rate"] : "" ; epochs++ }
      END { if (epochs >= 15) { router = run ~ /^tc/ ? "tokens-choice" : run ~ /^ec/ ? "experts-choice" : run;
            printf "%s,%s,%s,%s,%s,%.1f,%s\n", run, router, seed, acc, drop, seconds, threads } }' "$dir/train.csv"
  done
} > "$out/summary.csv.tmp"
mv "$out/summary.csv.tmp" "$out/summary.csv"
cat "$out/summary.csv"
