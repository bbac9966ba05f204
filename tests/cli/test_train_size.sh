#!/usr/bin/env bash
# `softmoe train --train-size/--val-size/--epoch-updates/--eval-train`: subsets, hold-out, fixed updates.
source "$(dirname "$0")/lib.sh"
data="$WORK/data"
small_mnist "$data" 1000 200
base=(--data-dir "$data" --experts 4 --quiet --batch 50)

"$SOFTMOE" train --help > "$WORK/help" || fail "--help exited non-zero"
for flag in --train-size --val-size --epoch-updates --eval-train; do
  grep -q -- "$flag" "$WORK/help" || fail "train --help does not mention $flag"
done

# Sizes that cannot be: exit 2, one line naming the flag, nothing created.
expect_exit 2 "--train-size 1001: larger than the 1000 training images" -- "$SOFTMOE" train "${base[@]}" --train-size 1001 --out "$WORK/r"
expect_exit 2 "--train-size: must be at least 1" -- "$SOFTMOE" train "${base[@]}" --train-size 0 --out "$WORK/r"
expect_exit 2 "--train-size: must be at least 1" -- "$SOFTMOE" train "${base[@]}" --train-size -3 --out "$WORK/r"
expect_exit 2 "--val-size 300: must leave training images" -- "$SOFTMOE" train "${base[@]}" --train-size 300 --val-size 300 --out "$WORK/r"
expect_exit 2 "--val-size" -- "$SOFTMOE" train "${base[@]}" --val-size -1 --out "$WORK/r"
expect_exit 2 "--epoch-updates" -- "$SOFTMOE" train "${base[@]}" --epoch-updates 0 --out "$WORK/r"
[ -e "$WORK/r" ] && fail "a refused command created $WORK/r"

# A subset run with a hold-out and fixed updates: recorded, the columns there, the sizes right.
sub=("${base[@]}" --train-size 400 --val-size 100 --epoch-updates 7 --eval-train)
"$SOFTMOE" train "${sub[@]}" --epochs 3 --out "$WORK/a" > /dev/null || fail "subset run failed"
head -1 "$WORK/a/train.csv" | grep -qx "epoch,train_loss,train_accuracy,test_loss,test_accuracy,train_seconds,eval_seconds,samples_per_second,threads,lr,val_loss,val_accuracy,fit_loss,fit_accuracy" \
  || fail "train.csv header: $(head -1 "$WORK/a/train.csv")"
for key in '"train_size": 400' '"val_size": 100' '"epoch_updates": 7' '"train_images": 300' '"validation_images": 100'; do
  grep -q "$key" "$WORK/a/config.json" || fail "config.json lacks $key"
done
awk -F, 'NR > 1 && ($10 != 0.001 || $12 < 0 || $12 > 1 || $14 < 0 || $14 > 1) { exit 1 }' "$WORK/a/train.csv" \
  || fail "lr, val_accuracy or fit_accuracy column wrong"
# the accuracy on 300 training images is a multiple of 1/300, on 100 validation images of 1/100
awk -F, 'NR > 1 { f = $14 * 300; v = $12 * 100; if (f - int(f + 0.5) > 1e-6 || int(f + 0.5) - f > 1e-6 || v - int(v + 0.5) > 1e-6 || int(v + 0.5) - v > 1e-6) exit 1 }' \
  "$WORK/a/train.csv" || fail "fit/val accuracies are not over 300/100 images"

# The same command and seed: the same results (other seeds draw other subsets: tests/test_subset.cpp).
"$SOFTMOE" train "${sub[@]}" --epochs 3 --out "$WORK/b" > /dev/null || fail "second subset run failed"
[ "$(without_timing "$WORK/a/train.csv")" = "$(without_timing "$WORK/b/train.csv")" ] || fail "same seed, other train.csv"
cmp -s "$WORK/a/model.safetensors" "$WORK/b/model.safetensors" || fail "same seed, other checkpoint"

# Interrupted and resumed with fixed updates: the same as straight through.
"$SOFTMOE" train "${sub[@]}" --epochs 1 --out "$WORK/c" > /dev/null || fail "1-epoch subset run failed"
"$SOFTMOE" train "${sub[@]}" --epochs 3 --out "$WORK/c" --resume > /dev/null || fail "subset resume failed"
cmp -s "$WORK/a/model.safetensors" "$WORK/c/model.safetensors" || fail "resumed subset checkpoint differs"
[ "$(without_timing "$WORK/a/train.csv")" = "$(without_timing "$WORK/c/train.csv")" ] || fail "resumed train.csv differs"
expect_exit 2 "train_size" -- "$SOFTMOE" train "${base[@]}" --train-size 500 --val-size 100 --epoch-updates 7 --eval-train \
  --epochs 4 --out "$WORK/c" --resume

# --epoch-updates U with batch B trains U x B examples per epoch: with U x B = the subset size, the
# cycle is one pass, so the run equals the one without the flag.
"$SOFTMOE" train "${base[@]}" --train-size 400 --epoch-updates 8 --epochs 2 --out "$WORK/d" > /dev/null || fail "U x B run failed"
"$SOFTMOE" train "${base[@]}" --train-size 400 --epochs 2 --out "$WORK/e" > /dev/null || fail "one-pass run failed"
cmp -s "$WORK/d/model.safetensors" "$WORK/e/model.safetensors" || fail "--epoch-updates 8 x batch 50 over 400 images is not one pass"

# specialize --split train evaluates the run's own 300 training images (subset minus hold-out): the
# all-expert accuracy is train.csv's last fit_accuracy (up to one image of float rounding: other batches).
"$SOFTMOE" specialize --run "$WORK/a" --split train --k 2 --methods all,topk --quiet > /dev/null || fail "specialize --split train failed"
[ -f "$WORK/a/specialize-train.csv" ] || fail "no RUN/specialize-train.csv"
fit=$(tail -1 "$WORK/a/train.csv" | cut -d, -f14)
awk -F, -v fit="$fit" '$3 == "all" { d = $5 - fit; found = ($8 == 300 && d * d * 300 * 300 <= 1.01) } END { exit !found }' \
  "$WORK/a/specialize-train.csv" || fail "specialize --split train: not the fit accuracy $fit on 300 images"
expect_exit 2 "--split" -- "$SOFTMOE" specialize --run "$WORK/a" --split validation

# The full set given as --train-size: every image, in file order, so the run equals the default one.
"$SOFTMOE" train "${base[@]}" --train-size 1000 --epochs 1 --out "$WORK/f" > /dev/null || fail "full-size run failed"
"$SOFTMOE" train "${base[@]}" --epochs 1 --out "$WORK/g" > /dev/null || fail "default run failed"
cmp -s "$WORK/f/model.safetensors" "$WORK/g/model.safetensors" || fail "--train-size 1000 of 1000 changed the training"
finish
