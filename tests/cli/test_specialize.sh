#!/usr/bin/env bash
# `softmoe specialize` from the command line: a small trained run, every method, bad arguments.
source "$(dirname "$0")/lib.sh"
data="$WORK/data"
small_mnist "$data" 1024 300
for n in 4 2; do
  "$SOFTMOE" train --data-dir "$data" --experts "$n" --epochs 2 --batch 128 --quiet --out "$WORK/n$n" > /dev/null \
    || fail "training n=$n failed"
done

out="$WORK/sp.csv"
"$SOFTMOE" specialize --run "$WORK/n4" --k all --methods all,topk,topk-renorm,random,oracle --random-trials 3 \
  --batch 100 --quiet --out "$out" > "$WORK/table" || fail "specialize failed"
head -1 "$out" | grep -q "^experts,k,method,trial,accuracy,accuracy_std,n_trials,inputs,expert_flops,total_flops,seconds,threads,topk_is_oracle$" \
  || fail "header: $(head -1 "$out")"
# all (1) + per k in 1..3: topk, renorm, 3 random trials, random aggregate, oracle (7)
[ "$(($(wc -l < "$out") - 1))" = 22 ] || fail "expected 22 rows, got $(($(wc -l < "$out") - 1))"
reported=$(tail -1 "$WORK/n4/train.csv" | cut -d, -f5)
all=$(awk -F, '$3 == "all" { print $5 }' "$out")
[ "$all" = "$reported" ] || fail "all-expert accuracy $all differs from train's $reported"
awk -F, '$3 == "oracle" && ($8 != 300 || $13 == "") { exit 1 }' "$out" || fail "oracle rows must cover all 300 inputs"
awk -F, '$3 == "random" && $4 == "all" && ($7 != 3 || $6 == "") { exit 1 }' "$out" || fail "random aggregate rows"
awk -F, '$3 == "topk" && $2 == 1 { t = $9 } $3 == "all" { a = $9 } END { exit !(t * 4 == a) }' "$out" \
  || fail "top-1 of 4 experts should cost a quarter of the expert FLOPs"
grep -q "topk" "$WORK/table" || fail "no summary table"

# Same command, same threads: identical apart from timing.
"$SOFTMOE" specialize --run "$WORK/n4" --k all --methods all,topk,topk-renorm,random,oracle --random-trials 3 \
  --batch 100 --quiet --out "$WORK/again.csv" > /dev/null || fail "second specialize failed"
[ "$(without_timing "$out")" = "$(without_timing "$WORK/again.csv")" ] || fail "reruns differ"

rm -f "$WORK/bad.csv"
expect_exit 2 "--k" -- "$SOFTMOE" specialize --run "$WORK/n4" --k 0 --out "$WORK/bad.csv"
expect_exit 2 "--k" -- "$SOFTMOE" specialize --run "$WORK/n4" --k 5 --out "$WORK/bad.csv"
expect_exit 2 "--k" -- "$SOFTMOE" specialize --run "$WORK/n4" --k 1/3 --out "$WORK/bad.csv"
expect_exit 2 "--run" -- "$SOFTMOE" specialize --run "$WORK/missing" --out "$WORK/bad.csv"
expect_exit 2 "--methods" -- "$SOFTMOE" specialize --run "$WORK/n4" --methods topk,best --out "$WORK/bad.csv"
cp "$WORK/n2/model.safetensors" "$WORK/n4/model.safetensors"
expect_exit 2 "another model" -- "$SOFTMOE" specialize --run "$WORK/n4" --out "$WORK/bad.csv"
head -c 5000 "$WORK/n2/model.safetensors" > "$WORK/n2/cut" && mv "$WORK/n2/cut" "$WORK/n2/model.safetensors"
expect_exit 2 "model.safetensors" -- "$SOFTMOE" specialize --run "$WORK/n2" --out "$WORK/bad.csv"
[ -e "$WORK/bad.csv" ] && fail "a refused command wrote its output"
finish
