#!/usr/bin/env bash
# `softmoe rl replay` against every shipped MinAtar reference trajectory (tests/data/minatar: program
# output of the original Python games, step by step: state hash, reward, terminal), and its bad input.
source "$(dirname "$0")/lib.sh"
DATA="$(dirname "$0")/../data/minatar"

files=0
for ref in "$DATA"/*.txt.gz; do
  name=$(basename "$ref" .txt.gz)
  game=${name%_seed*}; game=${game%_scripted}; seed=${name##*seed}
  zcat "$ref" | grep -v '^#' > "$WORK/expected"
  awk '$1 == "S" { print $4 }' "$WORK/expected" > "$WORK/actions"
  "$SOFTMOE" rl replay --game "$game" --seed "$seed" --actions "$WORK/actions" > "$WORK/got" 2> "$WORK/err" \
    || fail "$name: replay exited $?: $(cat "$WORK/err")"
  first=$(diff "$WORK/expected" "$WORK/got" | head -3 | tr '\n' ' ')
  [ -z "$first" ] || fail "$name: differs from the reference: $first"
  files=$((files + 1))
done
[ "$files" = 14 ] || fail "expected 14 reference files, found $files"

# --states prints the packed state (a reference file's state_hex column) after the hash
printf '3\n0\n' > "$WORK/two"
"$SOFTMOE" rl replay --game breakout --seed 0 --actions "$WORK/two" --states > "$WORK/states"
[ "$(awk '{print NF}' "$WORK/states" | sort -u)" = 8 ] || fail "--states: expected 8 fields per line"
[ "$(head -1 "$WORK/states" | cut -d' ' -f8 | wc -c)" = 101 ] || fail "--states: Breakout's 400 bits are 100 hex digits"

expect_exit 2 "game" -- "$SOFTMOE" rl replay --game pong --actions "$WORK/two"
expect_exit 2 "actions" -- "$SOFTMOE" rl replay --game breakout
expect_exit 2 "sticky" -- "$SOFTMOE" rl replay --game breakout --actions "$WORK/two" --sticky 1.5
expect_exit 2 "seed" -- "$SOFTMOE" rl replay --game breakout --actions "$WORK/two" --seed -1
expect_exit 1 "$WORK/missing: cannot read" -- "$SOFTMOE" rl replay --game breakout --actions "$WORK/missing"
printf '3\n7\n' > "$WORK/bad"
expect_exit 1 "$WORK/bad:2: '7' is not an action" -- "$SOFTMOE" rl replay --game breakout --actions "$WORK/bad"
expect_exit 2 "subcommand" -- "$SOFTMOE" rl
finish
