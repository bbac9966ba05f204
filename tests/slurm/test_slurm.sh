#!/usr/bin/env bash
# `make test-slurm`: starts a real one-node Slurm on this machine (munge, slurmctld, slurmd on
# localhost, as root), submits a sharded synthetic sweep with experts/slurm/submit.sh, waits for the
# merge job, compares with an unsharded run, and stops every daemon it started (by PID).
# Usage: tests/slurm/test_slurm.sh SOFTMOE
set -uo pipefail
softmoe=$(readlink -f "$1")
repo=$(cd "$(dirname "$0")/../.." && pwd)
work=$(mktemp -d /tmp/softmoe-slurm.XXXXXX)
chmod 755 "$work"  # munged runs as munge and must reach its files
status=1
host=$(hostname -s)

stop() {  # PIDFILE: stop that daemon, waiting for it; SIGKILL after 10 s
  [ -f "$1" ] || return 0
  local pid
  pid=$(cat "$1")
  kill "$pid" 2> /dev/null || return 0
  for _ in $(seq 1 100); do kill -0 "$pid" 2> /dev/null || return 0; sleep 0.1; done
  kill -9 "$pid" 2> /dev/null
}
cleanup() {
  stop "$work/slurmd.pid"
  stop "$work/slurmctld.pid"
  stop "$work/munge/munged.pid"
  rm -rf "$work"
}
trap cleanup EXIT

# munge: a fresh key, its own socket and pid file inside $work.
mkdir -p "$work/munge" && chown munge: "$work/munge" && chmod 700 "$work/munge"
dd if=/dev/urandom of="$work/munge/munge.key" bs=1024 count=1 2> /dev/null
chown munge: "$work/munge/munge.key" && chmod 400 "$work/munge/munge.key"
mkdir -p /run/munge /var/lib/munge /var/log/munge && chown munge: /run/munge /var/lib/munge /var/log/munge
runuser -u munge -- munged --force --key-file="$work/munge/munge.key" --socket="$work/munge/socket" \
  --pid-file="$work/munge/munged.pid" --log-file="$work/munge/munged.log" --seed-file="$work/munge/seed" \
  || { echo "munged did not start" >&2; exit 1; }
socket_line="AuthInfo=socket=$work/munge/socket"

memory=$(awk '/MemTotal/ { printf "%d", $2 / 1024 * 0.9 }' /proc/meminfo)
cat > "$work/slurm.conf" << CONF
ClusterName=softmoe-test
SlurmctldHost=$host
SlurmUser=root
AuthType=auth/munge
$socket_line
StateSaveLocation=$work/state
SlurmdSpoolDir=$work/spool
SlurmctldPidFile=$work/slurmctld.pid
SlurmdPidFile=$work/slurmd.pid
SlurmctldLogFile=$work/slurmctld.log
SlurmdLogFile=$work/slurmd.log
SlurmctldPort=16817
SlurmdPort=16818
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
ReturnToService=2
NodeName=$host CPUs=$(nproc) RealMemory=$memory State=UNKNOWN
PartitionName=test Nodes=$host Default=YES MaxTime=INFINITE State=UP
CONF
mkdir -p "$work/state" "$work/spool"
export SLURM_CONF="$work/slurm.conf"
slurmctld -f "$SLURM_CONF" || { echo "slurmctld did not start" >&2; exit 1; }
slurmd -f "$SLURM_CONF" || { echo "slurmd did not start" >&2; exit 1; }
for _ in $(seq 1 60); do sinfo -h -o %T 2> /dev/null | grep -q idle && break; sleep 1; done
sinfo -h -o %T | grep -q idle || { echo "the node never became idle" >&2; cat "$work/slurmctld.log" >&2; exit 1; }

args=(--task synthetic --experts 1,2,4 --seeds 0,1 --epochs 2)
"$softmoe" sweep "${args[@]}" --quiet --out "$work/whole" || { echo "unsharded sweep failed" >&2; exit 1; }
merge_job=$(SOFTMOE="$softmoe" "$repo/experiments/slurm/submit.sh" 3 "$work/cluster" "${args[@]}") \
  || { echo "sbatch failed" >&2; exit 1; }
echo "submitted: merge job $merge_job"
for _ in $(seq 1 300); do
  [ -z "$(squeue -h 2> /dev/null)" ] && break
  sleep 1
done
drop_timing() { awk -F, 'NR == 1 { for (i = 1; i <= NF; i++) keep[i] = ($i !~ /seconds/) }
  { s = ""; for (i = 1; i <= NF; i++) if (keep[i]) s = s (s == "" ? "" : ",") $i; print s }' "$1"; }
if [ -f "$work/cluster/results.csv" ] && [ "$(drop_timing "$work/whole/results.csv")" = "$(drop_timing "$work/cluster/results.csv")" ]; then
  echo "slurm: 3 array tasks + merge reproduced the unsharded sweep"
  status=0
else
  echo "slurm: the merged results are missing or differ" >&2
  cat "$work/cluster"/slurm-*.out >&2 2> /dev/null
fi
exit $status
