#!/usr/bin/env bash
# config.json holds every resolved setting, whatever was given, and the run's provenance: the command
# line, the commit softmoe was built from (when built from a checkout) and a UTC timestamp.
source "$(dirname "$0")/lib.sh"
small_mnist "$WORK/data" 512 128
"$SOFTMOE" train --data-dir "$WORK/data" --experts 4 --epochs 1 --out "$WORK/run" --quiet > /dev/null || fail "train failed"
config="$WORK/run/config.json"
for key in dataset model architecture optimizer lr weight_decay momentum batch seed shuffle threads schedule warmup \
           label_smoothing shift epochs parameters expert_parameters softmoe_version command_line started_utc; do
  grep -q "^  \"$key\": " "$config" || fail "config.json lacks $key"
done
grep -q '"schedule": "constant"' "$config" || fail "paper-mnist's schedule not recorded"
grep -q '^    "--epochs",$' "$config" || fail "command line not recorded: $(grep -A3 command_line "$config")"
grep -qE '^  "started_utc": "[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z"' "$config" || fail "no UTC timestamp"
if git -C "$(dirname "$0")" rev-parse HEAD > /dev/null 2>&1; then
  grep -qE '^  "git_commit": "[0-9a-f]{40}(-dirty)?"' "$config" || fail "no git commit in a build from a checkout"
fi
# The resume identity is unchanged by the new keys: the run resumes.
"$SOFTMOE" train --data-dir "$WORK/data" --experts 4 --epochs 2 --out "$WORK/run" --resume --quiet > /dev/null \
  || fail "resume after the provenance keys failed"
finish
