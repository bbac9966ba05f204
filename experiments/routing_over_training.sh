#!/usr/bin/env bash
# Specialisation over training (issue 15, item 2): the paper's MNIST model (its recipe, 14 epochs) at
# n = 8, 64 and 512 experts with `train --log-routing` (routing statistics on the test set before
# training and after every epoch), then `specialize` (all, top-k, random at k = n/8, n/4, n/2) on the
# final models, to set class-level specialisation (class_mi, class_expert_in_topk) beside the input-level
# top-k retention Chung et al. report. Seeds from SEEDS (default 0 1 2), n from EXPERTS (default 8 64 512).
# Resumable: finished runs are skipped, interrupted ones resumed.
# Usage: experiments/routing_over_training.sh [OUT_DIR]   (default results/routing-training; runs in runs/routing)
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-results/routing-training}
make build
mkdir -p "$out" runs/routing
for n in ${EXPERTS:-8 64 512}; do
  for seed in ${SEEDS:-0 1 2}; do
    run=runs/routing/n$n-seed$seed
    if [ ! -f "$run/specialize.csv" ]; then
      resume=(); [ -f "$run/optimizer.safetensors" ] && resume=(--resume)
      build/softmoe train --experts "$n" --seed "$seed" --log-routing --threads 1 --quiet "${resume[@]}" --out "$run"
      build/softmoe specialize --run "$run" --k 1/8,1/4,1/2 --methods all,topk,random --threads 1 --quiet \
        --out "$run/specialize.csv.tmp" > /dev/null
      mv "$run/specialize.csv.tmp" "$run/specialize.csv"
    fi
  done
done
# One file each, with n and seed in front of every row.
collect() {  # collect FILE OUT
  local first=1
  for run in runs/routing/n*-seed*; do
    [ -f "$run/specialize.csv" ] || continue
    name=${run##*/n}; n=${name%-seed*}; seed=${name#*-seed}
    if [ $first = 1 ]; then echo "experts_run,seed,$(head -1 "$run/$1")"; first=0; fi
    tail -n +2 "$run/$1" | sed "s/^/$n,$seed,/"
  done > "$2.tmp"
  mv "$2.tmp" "$2"
}
collect routing.csv "$out/routing.csv"
collect specialize.csv "$out/specialize.csv"
collect train.csv "$out/train.csv"
