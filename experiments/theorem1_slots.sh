#!/usr/bin/env bash
# Theorem 1 with slots (issue 15, item 3): does one expert with many slots represent ||X||? The
# representation experiment (`softmoe synthetic`, README) at its fixed budget of 8192 expert weights,
# target ||X||_F of 8 tokens x 16 dims, 200 epochs: n = 1 with p in {1, 2, 4, 8, 16} slots, and
# n in {2, 4, 16} with p = 1 and 4; seeds 0-2. Criterion fixed before the run: one expert with p slots
# "represents ||X||" when its test R^2 interval lies above that of n = 16, p = 1 (the best multi-expert
# point of results/synthetic); otherwise slots do not substitute for experts at this budget.
# Usage: experiments/theorem1_slots.sh [OUT_DIR]   (default results/theorem1-slots)
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-results/theorem1-slots}
make build
mkdir -p "$out"
run() {  # run SLOTS EXPERTS
  local file="$out/p$1.csv"
  [ -f "$file" ] || build/softmoe synthetic --slots "$1" --experts "$2" --seeds 0,1,2 --threads 1 --quiet --out "$file" > /dev/null
}
run 1 1,2,4,16
run 2 1
run 4 1,2,4,16
run 8 1
run 16 1
{ head -1 "$out/p1.csv"; for p in 1 2 4 8 16; do tail -n +2 "$out/p$p.csv"; done; } > "$out/slots.csv.tmp"
mv "$out/slots.csv.tmp" "$out/slots.csv"
rm -f "$out"/p*.csv
/usr/bin/python3 experiments/seed_summary.py "$out/slots.csv" "$out/summary.csv" --by experts,slots,hidden \
  --metrics test_r2,test_mse,train_mse
column -s, -t < "$out/summary.csv" | grep -E "test_r2|^experts"
