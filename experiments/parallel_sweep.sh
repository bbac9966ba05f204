#!/usr/bin/env bash
# A softmoe sweep split into N shards run by GNU parallel (on one machine, or with parallel's
# --sshlogin on several that share the directory), then merged.
# Usage: experiments/parallel_sweep.sh N SWEEP_DIR SWEEP_ARGUMENTS...
#   e.g. experiments/parallel_sweep.sh 2 sweeps/synthetic --task synthetic --experts 1,2,4,8,16,32 --seeds 0,1,2
set -euo pipefail
[ $# -ge 3 ] || { echo "usage: $0 N SWEEP_DIR SWEEP_ARGUMENTS..." >&2; exit 2; }
shards=$1 dir=$2
shift 2
softmoe=${SOFTMOE:-$(cd "$(dirname "$0")/.." && pwd)/build/softmoe}
seq 0 $((shards - 1)) | parallel --halt now,fail=1 "'$softmoe' sweep $* --shard {}/$shards --out '$dir/shard-{}' --quiet"
"$softmoe" sweep merge --out "$dir" $(for ((i = 0; i < shards; i++)); do printf '%s ' "$dir/shard-$i"; done)
