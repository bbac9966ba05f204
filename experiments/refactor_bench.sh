#!/usr/bin/env bash
# Paired before/after timing of softmoe's own benchmark executables (bench/), for a refactor that must not
# slow the engine: each configuration runs ROUNDS times, the two builds alternating within every round,
# so both see the same drift of this VM's speed. The peers of `make bench` are unchanged by a softmoe
# change, so a ratio against them moves exactly as softmoe's own time does.
# usage: experiments/refactor_bench.sh BEFORE_BUILD_BENCH_DIR AFTER_BUILD_BENCH_DIR OUT.csv [ROUNDS]
set -euo pipefail
before=$1 after=$2 out=$3 rounds=${4:-5}
export OPENBLAS_NUM_THREADS=1
tmp=$(mktemp)
echo "version,round,task,impl,threads,blas_threads,torch_threads,experts,hidden,batch,k,seconds_per_step,samples_per_second,model_gflops_per_second,peak_rss_mb,blas" > "$tmp"
configs=("bench_train --experts 2" "bench_train --experts 8" "bench_train --experts 128" "bench_train --experts 512"
         "bench_infer --experts 8" "bench_infer --experts 128" "bench_infer --experts 512" "bench_vit")
for round in $(seq 1 "$rounds"); do
  for config in "${configs[@]}"; do
    set -- $config
    exe=$1; shift
    for version in before after; do
      dir=$before; [ "$version" = after ] && dir=$after
      "$dir/$exe" "$@" --threads 1 --min-seconds 1 | sed "s/^/$version,$round,/" >> "$tmp"
    done
  done
  echo "round $round of $rounds done" >&2
done
mv "$tmp" "$out"
/usr/bin/python3 - "$out" <<'PY'
import csv, statistics, sys
rows = list(csv.DictReader(open(sys.argv[1])))
keys = sorted({(r["task"], int(r["experts"])) for r in rows})
print(f"{'task':>11} {'n':>4} {'before ms':>10} {'after ms':>10} {'after/before':>12}")
for task, n in keys:
    med = {v: statistics.median(float(r["seconds_per_step"]) for r in rows
                                if r["version"] == v and r["task"] == task and int(r["experts"]) == n)
           for v in ("before", "after")}
    print(f"{task:>11} {n:>4} {med['before'] * 1e3:>10.2f} {med['after'] * 1e3:>10.2f} {med['after'] / med['before']:>12.3f}")
PY
