#!/usr/bin/env bash
# Routing statistics from the command line: `analyze` on Soft MoE, sparse-router and ViT runs, its errors,
# and `train --log-routing` (rows per epoch, resume identity).
source "$(dirname "$0")/lib.sh"
data="$WORK/data"
small_mnist "$data" 512 200
base=(--data-dir "$data" --quiet --batch 128)

"$SOFTMOE" analyze --help > "$WORK/help" || fail "analyze --help exited non-zero"
for word in entropy top10_mass importance_cv2 load_cv2 switch_balance class_mi class_entropy max_combine \
    max_dispatch class_expert_in_topk --run --out --threads; do
  grep -q -- "$word" "$WORK/help" || fail "analyze --help does not mention $word"
done
expect_exit 2 "--run $WORK/none: no such run directory" -- "$SOFTMOE" analyze --run "$WORK/none"
mkdir -p "$WORK/empty"
expect_exit 2 "not a softmoe train run" -- "$SOFTMOE" analyze --run "$WORK/empty"
expect_exit 2 "--threads" -- "$SOFTMOE" analyze --run "$WORK/empty" --threads 0

# A Soft MoE run with --log-routing: epochs 0..2, every statistic per epoch, change rates from epoch 1.
"$SOFTMOE" train "${base[@]}" --experts 8 --log-routing --epochs 2 --out "$WORK/soft" > /dev/null || fail "train --log-routing failed"
log="$WORK/soft/routing.csv"
head -1 "$log" | grep -qx "epoch,layer,router,experts,statistic,k,value,inputs,threads" || fail "routing.csv header: $(head -1 "$log")"
[ "$(cut -d, -f1 "$log" | tail -n +2 | sort -u | tr '\n' ' ')" = "0 1 2 " ] || fail "routing.csv epochs: $(cut -d, -f1 "$log" | sort -u)"
# n = 8: 9 statistics without k, class_expert_in_topk and (from epoch 1) expert_change_rate at k = 1, 2, 4
[ "$(grep -c '^0,' "$log")" = 12 ] || fail "epoch 0 rows: $(grep -c '^0,' "$log")"
[ "$(grep -c '^2,' "$log")" = 15 ] || fail "epoch 2 rows: $(grep -c '^2,' "$log")"
grep -q '^1,0,soft,8,expert_change_rate,4,' "$log" || fail "no change rate at k = 4"
awk -F, 'NR > 1 && ($7 < 0 || $7 > 8 || $7 != $7 + 0) { bad = 1 } END { exit bad }' "$log" || fail "routing.csv values out of range"

"$SOFTMOE" analyze --run "$WORK/soft" --out "$WORK/soft.csv" --batch 128 > "$WORK/table" || fail "analyze failed"
head -1 "$WORK/soft.csv" | grep -qx "layer,router,experts,statistic,k,value,inputs,threads" || fail "analyze header"
[ "$(wc -l < "$WORK/soft.csv")" = 13 ] || fail "analyze rows: $(wc -l < "$WORK/soft.csv")"
grep -q "class_mi" "$WORK/table" || fail "no table on stdout"
# analyze of the final model in train's evaluation batches equals the log's last epoch
[ "$(grep '^2,' "$log" | grep -v change_rate | cut -d, -f2-)" = "$(tail -n +2 "$WORK/soft.csv")" ] ||
  fail "analyze differs from the last epoch of routing.csv"

# Resume: a run stopped after one epoch and resumed writes the same routing.csv.
"$SOFTMOE" train "${base[@]}" --experts 8 --log-routing --epochs 1 --out "$WORK/part" > /dev/null || fail "one epoch"
"$SOFTMOE" train "${base[@]}" --experts 8 --log-routing --epochs 2 --resume --out "$WORK/part" > /dev/null || fail "resume"
cmp -s "$WORK/part/routing.csv" "$log" || fail "resumed routing.csv differs"
# A resumed run whose routing.csv went missing: one line, exit 1.
"$SOFTMOE" train "${base[@]}" --experts 8 --log-routing --epochs 1 --out "$WORK/lost" > /dev/null || fail "one epoch"
rm "$WORK/lost/routing.csv"
expect_exit 1 "routing.csv: missing" -- "$SOFTMOE" train "${base[@]}" --experts 8 --log-routing --epochs 2 --resume --out "$WORK/lost"
# Resuming without the flag a run that had it (or the reverse) is refused like any other changed setting.
expect_exit 2 "log_routing" -- "$SOFTMOE" train "${base[@]}" --experts 8 --epochs 3 --resume --out "$WORK/soft"

# Sparse routers and the ViT.
"$SOFTMOE" train "${base[@]}" --epochs 1 --experts 4 --router tokens-choice --out "$WORK/tc" > /dev/null || fail "tokens-choice run"
"$SOFTMOE" analyze --run "$WORK/tc" --out "$WORK/tc.csv" --quiet > /dev/null || fail "analyze tokens-choice"
grep -q '^0,tokens-choice,4,class_mi,,' "$WORK/tc.csv" || fail "tokens-choice rows: $(head -3 "$WORK/tc.csv")"
grep -q 'max_dispatch' "$WORK/tc.csv" && fail "a sparse router has no dispatch weights"
"$SOFTMOE" train "${base[@]}" --epochs 1 --model vit --dim 16 --depth 2 --heads 2 --experts 4 --patch 7 --out "$WORK/vit" \
  > /dev/null || fail "vit run"
"$SOFTMOE" analyze --run "$WORK/vit" --out "$WORK/vit.csv" --quiet > /dev/null || fail "analyze vit"
[ "$(cut -d, -f1 "$WORK/vit.csv" | tail -n +2 | sort -u | tr '\n' ' ')" = "0 " ] || fail "vit layers: $(cut -d, -f1 "$WORK/vit.csv" | sort -u)"
finish
