#!/usr/bin/env bash
# Sparse routers against the Soft MoE on the paper's MNIST model (issue: sparse routers in the same
# harness). Same experts (hidden int(784 / n)), same recipe (14 epochs, Adam 1e-3, batch 256), seeds 0-2,
# n in {4, 8, 16, 32, 64, 128}, groups of 8 images, router noise 1 and importance + load losses (weight
# 0.005) for Tokens Choice. Every point is evaluated by `specialize`: the Soft MoE at every k (its top-k
# curve) and each sparse router's own choice, with the expert FLOPs it measured.
# Sweeps, in the order they run (each resumable: rerun the same command after an interruption):
#   soft             Soft MoE p = 1, top-k at every k
#   tc-k{1,2}-c{1,1.25}[-bpr]   Tokens Choice
#   ec-c{0.5,1,2}    Experts Choice; C = round(32 c / n) is 0 for c = 1 at n = 128 and for c = 0.5 at
#                    n >= 64, so those points route larger groups (ec-c1-g16: n = 128 with 16 images;
#                    ec-c0.5-g16: n = 64, ec-c0.5-g32: n = 128), the smallest G that gives C = 1
#   dense            one MLP of hidden 784 (n does not apply)
#   matched-tc-n*, matched-ec-n*   compute-matched K = c = n p / m = n / 4 (Tokens Choice with BPR)
# Usage: experiments/routers_mnist.sh [OUT_DIR]   (default results/routers; sweeps in runs/routers/)
# ONLY=name,name runs a subset; JOBS=2 runs two points at once. About 1.5 core-hours in all.
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-results/routers}
runs=runs/routers
make build > /dev/null
mkdir -p "$out" "$runs"
experts=4,8,16,32,64,128
common=(--task mnist --model paper-mnist --seeds 0,1,2 --threads 1 --jobs "${JOBS:-1}" --quiet)

sweep() {  # sweep NAME FLAGS...
  local name=$1; shift
  if [ -n "${ONLY:-}" ] && [[ ",$ONLY," != *",$name,"* ]]; then return; fi
  echo "routers: $name" >&2
  build/softmoe sweep "${common[@]}" "$@" --out "$runs/$name"
  cp "$runs/$name/results.csv" "$out/$name.csv"
}

sweep soft --experts "$experts" --specialize all --methods all,topk
for k in 1 2; do
  for c in 1 1.25; do
    sweep "tc-k$k-c$c" --experts "$experts" --router tokens-choice --router-k "$k" --capacity-factor "$c" --specialize 1
    sweep "tc-k$k-c$c-bpr" --experts "$experts" --router tokens-choice --router-k "$k" --capacity-factor "$c" --bpr \
      --specialize 1
  done
done
ec=(--router experts-choice --specialize 1)
sweep ec-c1 --experts 4,8,16,32,64 "${ec[@]}" --capacity-factor 1
sweep ec-c1-g16 --experts 128 "${ec[@]}" --capacity-factor 1 --group-images 16
sweep ec-c2 --experts "$experts" "${ec[@]}" --capacity-factor 2
sweep ec-c0.5 --experts 4,8,16,32 "${ec[@]}" --capacity-factor 0.5
sweep ec-c0.5-g16 --experts 64 "${ec[@]}" --capacity-factor 0.5 --group-images 16
sweep ec-c0.5-g32 --experts 128 "${ec[@]}" --capacity-factor 0.5 --group-images 32
sweep dense --experts 8 --router dense --specialize 1
for n in 4 8 16 32 64 128; do
  sweep "matched-tc-n$n" --experts "$n" --router tokens-choice --router-k $((n / 4)) --capacity-factor 1 --bpr \
    --specialize 1
  sweep "matched-ec-n$n" --experts "$n" --router experts-choice --capacity-factor $((n / 4)) --specialize 1
done
echo "routers: wrote $out" >&2
