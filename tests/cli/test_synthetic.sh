#!/usr/bin/env bash
# `softmoe synthetic` from the command line: errors, exit codes, output files, reproducibility.
source "$(dirname "$0")/lib.sh"
small=(--experts 1,2 --seeds 0 --epochs 2 --train-size 64 --test-size 32 --batch 16 --quiet)

"$SOFTMOE" synthetic --help > "$WORK/help" || fail "--help exited non-zero"
for flag in --experts --expert-params --slots --seeds --normalize --threads --out; do
  grep -q -- "$flag" "$WORK/help" || fail "--help does not mention $flag"
done

out="$WORK/out.csv"
expect_exit 2 "--experts" -- "$SOFTMOE" synthetic --experts 0 --out "$out"
expect_exit 2 "hidden width 0" -- "$SOFTMOE" synthetic --expert-params 10 --experts 64 --out "$out"
expect_exit 2 "--lr" -- "$SOFTMOE" synthetic --lr -1 --out "$out"
expect_exit 2 "--lr" -- "$SOFTMOE" synthetic --lr nan --out "$out"
expect_exit 2 "--out" -- "$SOFTMOE" synthetic --out "$WORK/missing-dir/out.csv"
expect_exit 2 "--out" -- "$SOFTMOE" synthetic --out /proc/softmoe-test.csv
expect_exit 2 "--out" -- "$SOFTMOE" synthetic --out "$WORK"
expect_exit 2 "--normalize" -- "$SOFTMOE" synthetic --normalize sideways
expect_exit 2 "--experts" -- "$SOFTMOE" synthetic --experts 1,x
expect_exit 2 "--no-such-flag" -- "$SOFTMOE" synthetic --no-such-flag
expect_exit 2 "subcommand" -- "$SOFTMOE"
[ -e "$out" ] && fail "a failed run left $out behind"
[ -z "$(ls -A "$WORK" | grep -v -e stdout -e stderr -e help)" ] || fail "stray files: $(ls -A "$WORK")"

# A diverging run is a run-time failure (exit 1) and keeps the user's existing file.
echo "precious" > "$out"
expect_exit 1 "diverged" -- "$SOFTMOE" synthetic "${small[@]}" --lr 1e30 --out "$out"
[ "$(cat "$out")" = "precious" ] || fail "a failed run changed the existing --out file"

# A real run: header, one row per (experts, seed), thread count recorded.
"$SOFTMOE" synthetic "${small[@]}" --out "$WORK/a.csv" > "$WORK/table" || fail "small run failed"
head -1 "$WORK/a.csv" | grep -q "^target,tokens,dim,experts,slots,hidden,expert_params,total_params,normalize,seed,epochs,train_mse,test_mse,target_variance,test_r2,seconds,threads$" \
  || fail "unexpected header: $(head -1 "$WORK/a.csv")"
[ "$(wc -l < "$WORK/a.csv")" = 3 ] || fail "expected 2 rows, got: $(cat "$WORK/a.csv")"
grep -q "experts" "$WORK/table" || fail "no summary table on stdout"

# Same command, same seed, same threads: byte-identical apart from timing columns.
"$SOFTMOE" synthetic "${small[@]}" --out "$WORK/b.csv" > /dev/null || fail "second run failed"
[ "$(without_timing "$WORK/a.csv")" = "$(without_timing "$WORK/b.csv")" ] || fail "two identical runs differ"
"$SOFTMOE" synthetic "${small[@]}" --seeds 1 --out "$WORK/c.csv" > /dev/null || fail "seed-1 run failed"
[ "$(without_timing "$WORK/a.csv")" != "$(without_timing "$WORK/c.csv")" ] || fail "a different seed gave identical results"
finish
