#!/usr/bin/env bash
# `softmoe train` from the command line: bad flags and files, run directories, checkpoints, resume.
source "$(dirname "$0")/lib.sh"
data="$WORK/data"
small_mnist "$data" 1024 200
opts=(--experts 4 --quiet)
base=(--data-dir "$data" "${opts[@]}" --batch 128)

"$SOFTMOE" train --help > "$WORK/help" || fail "--help exited non-zero"
for flag in --dataset --data-dir --experts --expert-hidden --normalize --phi-init --optimizer --lr --batch \
            --epochs --seed --shuffle --threads --out --resume; do
  grep -q -- "$flag" "$WORK/help" || fail "train --help does not mention $flag"
done

# Bad command lines: exit 2, nothing created.
expect_exit 2 "--experts" -- "$SOFTMOE" train "${base[@]}" --experts 0 --out "$WORK/r"
expect_exit 2 "--lr" -- "$SOFTMOE" train "${base[@]}" --lr -1 --out "$WORK/r"
expect_exit 2 "--out" -- "$SOFTMOE" train "${base[@]}"
expect_exit 2 "--dataset" -- "$SOFTMOE" train "${base[@]}" --dataset cifar10 --out "$WORK/r"
expect_exit 2 "--out" -- "$SOFTMOE" train "${base[@]}" --out "$WORK/no/such/dir"
expect_exit 2 "--resume" -- "$SOFTMOE" train "${base[@]}" --out "$WORK/r" --resume
[ -e "$WORK/r" ] && fail "a refused command created $WORK/r"

# Bad data files: exit 1, one line naming the file, no run directory.
bad="$WORK/bad"
cp -r "$data" "$bad"
zcat "$data/train-labels-idx1-ubyte.gz" | head -c 1000 | gzip -n > "$bad/train-labels-idx1-ubyte.gz"
expect_exit 1 "train-labels-idx1-ubyte.gz: truncated" -- "$SOFTMOE" train "${opts[@]}" --data-dir "$bad" --out "$WORK/r"
{ printf '\x00\x00\x08\x02'; zcat "$data/train-labels-idx1-ubyte.gz" | tail -c +5; } | gzip -n > "$bad/train-labels-idx1-ubyte.gz"
expect_exit 1 "train-labels-idx1-ubyte.gz:.*rank" -- "$SOFTMOE" train "${opts[@]}" --data-dir "$bad" --out "$WORK/r"
{ printf '\x12\x34\x08\x01'; zcat "$data/train-labels-idx1-ubyte.gz" | tail -c +5; } | gzip -n > "$bad/train-labels-idx1-ubyte.gz"
expect_exit 1 "train-labels-idx1-ubyte.gz:.*magic" -- "$SOFTMOE" train "${opts[@]}" --data-dir "$bad" --out "$WORK/r"
cp "$data/t10k-labels-idx1-ubyte.gz" "$bad/train-labels-idx1-ubyte.gz"   # 200 labels for 1024 images
expect_exit 1 "labels" -- "$SOFTMOE" train "${opts[@]}" --data-dir "$bad" --out "$WORK/r"
expect_exit 1 "not found\|missing" -- "$SOFTMOE" train "${opts[@]}" --data-dir "$WORK/empty-nowhere" --out "$WORK/r"
[ -e "$WORK/r" ] && fail "a failed run left $WORK/r behind"

# A run: the four files, one CSV row per epoch, accuracies in [0, 1], thread count recorded.
"$SOFTMOE" train "${base[@]}" --epochs 3 --out "$WORK/full" > "$WORK/stdout" || fail "3-epoch run failed"
for f in model.safetensors optimizer.safetensors train.csv config.json; do
  [ -s "$WORK/full/$f" ] || fail "run directory lacks $f"
done
head -1 "$WORK/full/train.csv" | grep -q "^epoch,train_loss,train_accuracy,test_loss,test_accuracy,train_seconds,eval_seconds,samples_per_second,threads,lr$" \
  || fail "train.csv header: $(head -1 "$WORK/full/train.csv")"
[ "$(wc -l < "$WORK/full/train.csv")" = 4 ] || fail "expected 3 epochs in train.csv"
awk -F, 'NR > 1 && ($3 < 0 || $3 > 1 || $5 < 0 || $5 > 1 || $9 != 1) { exit 1 }' "$WORK/full/train.csv" \
  || fail "accuracy out of [0, 1] or threads column wrong"
grep -q '"threads": 1' "$WORK/full/config.json" || fail "config.json lacks the thread count"
grep -q "test accuracy" "$WORK/stdout" || fail "no final accuracy on stdout"

# An existing run is never overwritten without --resume.
sum_before=$(md5sum "$WORK/full"/* | md5sum)
expect_exit 2 "already holds a run" -- "$SOFTMOE" train "${base[@]}" --epochs 3 --out "$WORK/full"
[ "$(md5sum "$WORK/full"/* | md5sum)" = "$sum_before" ] || fail "a refused run changed the run directory"

# Interrupted after one epoch, resumed: the same checkpoint bytes as the uninterrupted run.
"$SOFTMOE" train "${base[@]}" --epochs 1 --out "$WORK/resumed" || fail "1-epoch run failed"
"$SOFTMOE" train "${base[@]}" --epochs 3 --out "$WORK/resumed" --resume || fail "resume failed"
cmp -s "$WORK/full/model.safetensors" "$WORK/resumed/model.safetensors" || fail "resumed checkpoint differs"
[ "$(without_timing "$WORK/full/train.csv")" = "$(without_timing "$WORK/resumed/train.csv")" ] \
  || fail "resumed train.csv differs"

# Resume with other settings, or from a damaged state: refused, files left exactly as they were.
sum_before=$(md5sum "$WORK/resumed"/* | md5sum)
expect_exit 2 "experts" -- "$SOFTMOE" train "${base[@]}" --experts 8 --epochs 4 --out "$WORK/resumed" --resume
head -c 100000 "$WORK/resumed/optimizer.safetensors" > "$WORK/truncated"
cp "$WORK/truncated" "$WORK/resumed/optimizer.safetensors"
sum_before=$(md5sum "$WORK/resumed"/* | md5sum)
expect_exit 1 "optimizer.safetensors" -- "$SOFTMOE" train "${base[@]}" --epochs 4 --out "$WORK/resumed" --resume
[ "$(md5sum "$WORK/resumed"/* | md5sum)" = "$sum_before" ] || fail "a refused resume changed the run directory"

# Killed with SIGKILL mid-run, resumed: the same final checkpoint as an uninterrupted run.
long=(--data-dir "$data" "${opts[@]}" --epochs 12 --batch 64)
"$SOFTMOE" train "${long[@]}" --out "$WORK/straight" || fail "12-epoch run failed"
"$SOFTMOE" train "${long[@]}" --out "$WORK/killed" &
pid=$!
for _ in $(seq 1 600); do
  [ -f "$WORK/killed/train.csv" ] && [ "$(wc -l < "$WORK/killed/train.csv")" -ge 3 ] && break
  sleep 0.05
done
kill -9 "$pid" 2> /dev/null
wait "$pid" 2> /dev/null
epochs_done=$(($(wc -l < "$WORK/killed/train.csv") - 1))
[ "$epochs_done" -lt 12 ] || echo "note: the run finished before SIGKILL; resume is then a no-op" >&2
"$SOFTMOE" train "${long[@]}" --out "$WORK/killed" --resume || fail "resume after SIGKILL failed"
cmp -s "$WORK/straight/model.safetensors" "$WORK/killed/model.safetensors" \
  || fail "checkpoint after SIGKILL + resume differs from the uninterrupted run"

# A diverging run stops with exit 1 and keeps its last good checkpoint.
expect_exit 1 "diverged" -- "$SOFTMOE" train "${base[@]}" --epochs 2 --lr 1e30 --out "$WORK/nan"
finish
