#!/usr/bin/env bash
# Runs a softmoe sweep on a Slurm cluster: an array job of N shards, then a merge job that waits for
# all of them. The merged sweep lands in SWEEP_DIR (results.csv), exactly what an unsharded run gives.
# Usage: experiments/slurm/submit.sh N SWEEP_DIR SWEEP_ARGUMENTS...
#   e.g. experiments/slurm/submit.sh 8 sweeps/mnist --task mnist --experts 2,4,8,16,32,64,128,256,512 --seeds 0,1,2
# Extra sbatch options (partition, time, account) go in SBATCH_OPTIONS. Prints the merge job's id.
set -euo pipefail
[ $# -ge 3 ] || { echo "usage: $0 N SWEEP_DIR SWEEP_ARGUMENTS..." >&2; exit 2; }
shards=$1 dir=$2
shift 2
here=$(cd "$(dirname "$0")" && pwd)
softmoe=${SOFTMOE:-$(cd "$here/../.." && pwd)/build/softmoe}
mkdir -p "$dir"
dir=$(cd "$dir" && pwd)
# shellcheck disable=SC2086
array=$(SOFTMOE="$softmoe" SWEEP_DIR="$dir" SWEEP_ARGS="$*" sbatch --parsable ${SBATCH_OPTIONS:-} \
  --array="0-$((shards - 1))" --output="$dir/slurm-%A_%a.out" --export=ALL "$here/sweep_array.sbatch")
shard_dirs=$(for ((i = 0; i < shards; i++)); do printf '%s ' "$dir/shard-$i"; done)
# shellcheck disable=SC2086
sbatch --parsable ${SBATCH_OPTIONS:-} --dependency="afterok:$array" --job-name=softmoe-merge \
  --output="$dir/slurm-merge-%j.out" --wrap="'$softmoe' sweep merge --out '$dir' $shard_dirs"
