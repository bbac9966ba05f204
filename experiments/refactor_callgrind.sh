#!/usr/bin/env bash
# Instructions executed (valgrind --tool=callgrind, repeatable whatever else the machine runs) by softmoe's
# benchmark executables built before and after a refactor, one thread, the fewest steps the bench allows.
# usage: experiments/refactor_callgrind.sh BEFORE_BUILD_BENCH_DIR AFTER_BUILD_BENCH_DIR OUT.csv
set -euo pipefail
before=$1 after=$2 out=$3
configs=("bench_train --experts 8" "bench_train --experts 128" "bench_infer --experts 128" "bench_vit")
echo "config,before_instructions,after_instructions,after_over_before" > "$out.tmp"
for config in "${configs[@]}"; do
  counts=()
  for dir in "$before" "$after"; do
    set -- $config
    exe=$1; shift
    log=$(mktemp)
    OPENBLAS_NUM_THREADS=1 valgrind --tool=callgrind --callgrind-out-file=/dev/null "$dir/$exe" "$@" --threads 1 \
      --min-seconds 0 > /dev/null 2> "$log"
    counts+=("$(grep -oE 'Collected : [0-9]+' "$log" | grep -oE '[0-9]+')")
    rm -f "$log"
  done
  echo "$config,${counts[0]},${counts[1]},$(awk -v a="${counts[0]}" -v b="${counts[1]}" 'BEGIN { printf "%.4f", b / a }')" >> "$out.tmp"
done
mv "$out.tmp" "$out"
cat "$out"
