#!/bin/bash
# The sparse-router acceptance check: `softmoe train` against the independent PyTorch training
# (train_router_torch.py) of the same router and recipe (paper-mnist, 14 epochs), seeds 0 and 1, on one
# thread each. Criterion, fixed before the run: the mean test accuracy of the 2 seeds within 2 points of
# PyTorch's (5 points at K = 1), per configuration.
# Usage: tests/reference/router_accuracy_check.sh SOFTMOE_BINARY OUT.csv   (about 20 minutes)
set -euo pipefail
softmoe=${1:?softmoe binary}
out=${2:?output csv}
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
configs=(
  "tc_k1_n8|--router tokens-choice --experts 8 --router-k 1 --capacity-factor 1"
  "tc_k2_n8|--router tokens-choice --experts 8 --router-k 2 --capacity-factor 1"
  "ec_c1_n8|--router experts-choice --experts 8 --capacity-factor 1"
  "ec_c1_n32|--router experts-choice --experts 32 --capacity-factor 1"
)
echo "config,seed,implementation,test_accuracy,drop_rate,threads" > "$work/out.csv"
for entry in "${configs[@]}"; do
  name=${entry%%|*}
  flags=${entry#*|}
  for seed in 0 1; do
    # shellcheck disable=SC2086
    "$softmoe" train $flags --seed "$seed" --threads 1 --quiet --out "$work/$name-$seed" > /dev/null
    row=$(tail -n 1 "$work/$name-$seed/train.csv")
    acc=$(echo "$row" | cut -d, -f5)
    drop=$(echo "$row" | cut -d, -f10)
    echo "$name,$seed,softmoe,$acc,$drop,1" >> "$work/out.csv"
    # shellcheck disable=SC2086
    final=$(/usr/bin/python3 "$here/train_router_torch.py" $flags --seed "$seed" --threads 1 --data "$here/../../data/mnist" 2> /dev/null | tail -n 1)
    echo "$name,$seed,pytorch,$(echo "$final" | cut -d, -f2),$(echo "$final" | cut -d, -f3),1" >> "$work/out.csv"
  done
done
mv "$work/out.csv" "$out"
/usr/bin/python3 - "$out" <<'PY'
import csv, sys, collections
rows = list(csv.DictReader(open(sys.argv[1])))
acc = collections.defaultdict(list)
for r in rows:
    acc[(r["config"], r["implementation"])].append(float(r["test_accuracy"]))
ok = True
for config in dict.fromkeys(r["config"] for r in rows):
    ours = sum(acc[(config, "softmoe")]) / 2
    theirs = sum(acc[(config, "pytorch")]) / 2
    limit = 0.05 if "k1" in config else 0.02
    passed = abs(ours - theirs) <= limit
    ok &= passed
    print(f"{config}: softmoe {ours:.4f}, pytorch {theirs:.4f}, difference {ours - theirs:+.4f} "
          f"(limit {limit:.2f}) {'ok' if passed else 'FAILS'}")
sys.exit(0 if ok else 1)
PY
