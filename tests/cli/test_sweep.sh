#!/usr/bin/env bash
# `softmoe sweep`: sharded + merged equals unsharded; kill -9 and rerun; refusals; an image-task sweep.
source "$(dirname "$0")/lib.sh"
grid=(sweep --task synthetic --experts 1,2,4 --seeds 0,1 --epochs 2 --quiet)

"$SOFTMOE" "${grid[@]}" --out "$WORK/whole" || fail "unsharded sweep failed"
[ "$(($(wc -l < "$WORK/whole/results.csv") - 1))" = 6 ] || fail "expected 6 rows"
head -1 "$WORK/whole/results.csv" | grep -q "^experts,seed," || fail "swept settings are not the first columns"

# Two shards, merged: the same results as the unsharded sweep.
"$SOFTMOE" "${grid[@]}" --shard 0/2 --out "$WORK/s0" || fail "shard 0 failed"
"$SOFTMOE" "${grid[@]}" --shard 1/2 --jobs 2 --out "$WORK/s1" || fail "shard 1 failed"
"$SOFTMOE" sweep merge --out "$WORK/merged" "$WORK/s1" "$WORK/s0" 2> /dev/null || fail "merge failed"
[ "$(without_timing "$WORK/whole/results.csv")" = "$(without_timing "$WORK/merged/results.csv")" ] \
  || fail "merged shards differ from the unsharded sweep"

# Merge refuses missing, duplicated and foreign shards.
expect_exit 2 "missing" -- "$SOFTMOE" sweep merge --out "$WORK/m2" "$WORK/s0"
expect_exit 2 "both shard" -- "$SOFTMOE" sweep merge --out "$WORK/m3" "$WORK/s0" "$WORK/s0"
"$SOFTMOE" sweep --task synthetic --experts 1,2,4 --seeds 0,2 --epochs 2 --quiet --shard 1/2 --out "$WORK/other" \
  || fail "other sweep failed"
expect_exit 2 "different sweep" -- "$SOFTMOE" sweep merge --out "$WORK/m4" "$WORK/s0" "$WORK/other"

# The same command again reruns nothing; another command on the same directory is refused.
before=$(stat -c %Y "$WORK/whole/points"/* | md5sum)
sleep 1
"$SOFTMOE" "${grid[@]}" --out "$WORK/whole" || fail "rerun failed"
[ "$(stat -c %Y "$WORK/whole/points"/* | md5sum)" = "$before" ] || fail "a rerun redid finished points"
expect_exit 2 "different sweep" -- "$SOFTMOE" "${grid[@]}" --lr 0.01 --out "$WORK/whole"
expect_exit 2 "--shard" -- "$SOFTMOE" "${grid[@]}" --shard 2/2 --out "$WORK/bad"
expect_exit 2 "--experts" -- "$SOFTMOE" sweep --task synthetic --experts 0 --out "$WORK/bad"
expect_exit 2 "hidden width 0" -- "$SOFTMOE" sweep --task synthetic --experts 64 --expert-params 100 --out "$WORK/bad"
[ -e "$WORK/bad" ] && fail "a refused sweep created its directory"

# Killed with SIGKILL mid-sweep, then rerun: finished points kept, same results.
slow=(sweep --task synthetic --experts 1,2,4,8 --seeds 0 --epochs 20 --quiet)
"$SOFTMOE" "${slow[@]}" --out "$WORK/straight" || fail "reference sweep failed"
"$SOFTMOE" "${slow[@]}" --out "$WORK/killed" &
pid=$!
for _ in $(seq 1 400); do
  [ -n "$(ls "$WORK/killed/points" 2> /dev/null)" ] && break
  sleep 0.02
done
kill -9 "$pid" 2> /dev/null
wait "$pid" 2> /dev/null
finished=$(ls "$WORK/killed/points" | wc -l)
stamps=$(stat -c %Y "$WORK/killed/points"/* 2> /dev/null | md5sum)
sleep 1
"$SOFTMOE" "${slow[@]}" --out "$WORK/killed" || fail "rerun after SIGKILL failed"
[ "$(stat -c %Y $(ls "$WORK/killed/points"/* | head -n "$finished") 2> /dev/null | md5sum)" = "$stamps" ] \
  || fail "points finished before SIGKILL were run again"
[ "$(without_timing "$WORK/straight/results.csv")" = "$(without_timing "$WORK/killed/results.csv")" ] \
  || fail "results after SIGKILL + rerun differ"

# An image task: train and specialize every point; one row per (point, method, k).
small_mnist "$WORK/data" 512 100
"$SOFTMOE" sweep --task mnist --experts 2,4 --seeds 0 --epochs 1 --specialize 1/2 --random-trials 2 \
  --data-dir "$WORK/data" --quiet --out "$WORK/image" || fail "image sweep failed"
rows=$(($(wc -l < "$WORK/image/results.csv") - 1))
[ "$rows" = 6 ] || fail "expected 6 rows (2 points x all, topk, random), got $rows"
head -1 "$WORK/image/results.csv" | grep -q "^experts,seed,hidden,expert_params,epochs,train_loss" || fail "image header"
[ -f "$WORK/image/runs/experts4_seed0/model.safetensors" ] || fail "no run directory per point"

# summary.csv over seeds: the settings without seed, metric, seeds, mean, sd, t-interval.
head -1 "$WORK/whole/summary.csv" | grep -qx "experts,metric,seeds,mean,sd,ci95_low,ci95_high,interval" \
  || fail "summary header: $(head -1 "$WORK/whole/summary.csv")"
col=$(head -1 "$WORK/whole/results.csv" | tr ',' '\n' | grep -nx test_mse | cut -d: -f1)
mean=$(awk -F, -v c="$col" 'NR > 1 && $1 == 2 { s += $c; n++ } END { printf "%.12g", s / n }' "$WORK/whole/results.csv")
awk -F, -v m="$mean" '$1 == 2 && $2 == "test_mse" && $3 == 2 && ($4 - m)^2 < 1e-20 && $6 < $4 && $4 < $7 { found = 1 }
                      END { exit !found }' "$WORK/whole/summary.csv" \
  || fail "summary.csv: experts 2 test_mse is not the mean ($mean) of its two seeds inside its interval"
[ "$(cat "$WORK/merged/summary.csv")" = "$(cat "$WORK/whole/summary.csv")" ] || fail "merge wrote another summary.csv"

# Training-set sizes as an axis, with the fit on the own training images and the gap.
"$SOFTMOE" sweep --task mnist --experts 2 --seeds 0,1 --train-sizes 100,300 --epoch-updates 3 --epochs 1 --eval-train \
  --data-dir "$WORK/data" --quiet --out "$WORK/sizes" || fail "train-size sweep failed"
head -1 "$WORK/sizes/results.csv" | grep -q "^experts,train_size,seed,hidden,.*,fit_loss,fit_accuracy,gap_loss,gap_accuracy," \
  || fail "train-size sweep header: $(head -1 "$WORK/sizes/results.csv")"
grep -q '"train_size": 300' "$WORK/sizes/runs/experts2_train_size300_seed1/config.json" || fail "train_size not passed to train"
awk -F, 'NR > 1 { if ($1 != 2 || ($2 != 100 && $2 != 300)) exit 1; n++ } END { exit n != 4 }' "$WORK/sizes/results.csv" \
  || fail "expected 4 rows (2 sizes x 2 seeds)"
[ "$(grep -c ',accuracy,2,' "$WORK/sizes/summary.csv")" = 2 ] || fail "summary.csv: expected accuracy over 2 seeds per size"
grep -q "^2,100,all,2,gap_accuracy,2," "$WORK/sizes/summary.csv" || fail "summary.csv lacks the gap"
expect_exit 2 "--train-sizes" -- "$SOFTMOE" sweep --task mnist --experts 2 --train-sizes 0 --out "$WORK/bad"
finish
