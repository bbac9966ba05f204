#!/usr/bin/env bash
# The paper's MNIST suite (reference note, sections 3-5): n = 2..512 experts at a fixed total expert
# width (hidden = int(784 / n)), the paper's recipe (14 epochs), seeds 0-2 (SEEDS, comma-separated), then
# expert subset selection at k = n/2, n/4, n/8 (top-k against 10 random trials, and the oracle where
# affordable). For n = 256 and 512 also every k: top-k at k = 1..n-1 and random (10 trials) at the
# multiples of n/32 (trimmed: 10 trials at all 767 k would cost ~40 min per seed), in every_k.csv.
# summary.csv here (experiments/seed_summary.py, the format the committed results have) holds mean, sd
# and 95% t-intervals over the seeds; the sweep's own summary.csv (softmoe since 1f2a0d8) has the same
# numbers plus an interval column. Resumable: rerun the same command after an interruption.
# Usage: experiments/mnist_suite.sh [OUT_DIR]   (default results/mnist-suite; the sweep lives in runs/)
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-results/mnist-suite}
dataset=${DATASET:-mnist}
seeds=${SEEDS:-0,1,2}
sweep=runs/$dataset-suite-seeds
make build
mkdir -p "$out"
build/softmoe sweep --task "$dataset" --model paper-mnist --experts 2,4,8,16,32,64,128,256,512 --seeds "$seeds" \
  --specialize 1/2,1/4,1/8 --methods all,topk,random,oracle --threads 1 --jobs "${JOBS:-1}" --quiet --out "$sweep"
for f in results.csv sweep.json summary.csv; do [ -f "$sweep/$f" ] && cp "$sweep/$f" "$out/$f"; done
/usr/bin/python3 experiments/seed_summary.py "$out/results.csv" "$out/summary.csv" --by experts,method,k \
  --metrics accuracy,test_accuracy

# Every k at n = 256 and 512.
for n in 256 512; do
  for seed in ${seeds//,/ }; do
    run=$(ls -d "$sweep"/runs/experts${n}_seed${seed}* | head -1)
    [ -f "$run/every_k.csv" ] && continue
    random_k=$(seq -s, $((n / 32)) $((n / 32)) $((n - 1)))
    build/softmoe specialize --run "$run" --k all --methods topk --threads 1 --quiet --out "$run/every_k_topk.csv" > /dev/null
    build/softmoe specialize --run "$run" --k "$random_k" --methods random --threads 1 --quiet \
      --out "$run/every_k_random.csv" > /dev/null
    { cat "$run/every_k_topk.csv"; tail -n +2 "$run/every_k_random.csv"; } > "$run/every_k.csv.tmp"
    mv "$run/every_k.csv.tmp" "$run/every_k.csv"
  done
done
first=1
for run in "$sweep"/runs/experts{256,512}_seed*; do
  [ -f "$run/every_k.csv" ] || continue
  seed=${run##*_seed}; seed=${seed%%[!0-9]*}
  [ $first = 1 ] && echo "seed,$(head -1 "$run/every_k.csv")" && first=0
  tail -n +2 "$run/every_k.csv" | sed "s/^/$seed,/"
done > "$out/every_k.csv.tmp"
mv "$out/every_k.csv.tmp" "$out/every_k.csv"
/usr/bin/python3 experiments/seed_summary.py "$out/every_k.csv" "$out/every_k_summary.csv" --by experts,method,k \
  --metrics accuracy --where trial=all
