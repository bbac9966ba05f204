# Helpers for the command-line tests: each test script sources this, gets $SOFTMOE and a scratch $WORK.
set -u
SOFTMOE=$1
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
FAILURES=0

fail() { echo "FAIL: $*" >&2; FAILURES=$((FAILURES + 1)); }

# expect_exit CODE PATTERN -- command...: exit code CODE and exactly one stderr line matching PATTERN.
expect_exit() {
  local code=$1 pattern=$2; shift 3
  "$@" > "$WORK/stdout" 2> "$WORK/stderr"
  local got=$?
  [ "$got" = "$code" ] || fail "$* exited $got, expected $code"
  [ "$(wc -l < "$WORK/stderr")" = 1 ] || fail "$* wrote $(wc -l < "$WORK/stderr") stderr lines, expected 1: $(cat "$WORK/stderr")"
  grep -q -- "$pattern" "$WORK/stderr" || fail "$* stderr lacks '$pattern': $(cat "$WORK/stderr")"
}

# Drops the CSV timing columns (names containing "seconds" or "per_second").
without_timing() {
  awk -F, 'NR == 1 { for (i = 1; i <= NF; i++) keep[i] = ($i !~ /seconds|per_second/) }
           { line = ""; for (i = 1; i <= NF; i++) if (keep[i]) line = line (line == "" ? "" : ",") $i; print line }' "$1"
}

# small_mnist DIR TRAIN TEST: the first TRAIN training and TEST test examples of the shipped MNIST, as
# gzip-compressed IDX files with headers rewritten for those counts.
small_mnist() {
  local dir=$1 mnist
  mnist="$(dirname "${BASH_SOURCE[0]}")/../../data/mnist"
  mkdir -p "$dir"
  # idx_slice NAME COUNT HEADER_BYTES ITEM_BYTES: keeps the header's magic (and image size), sets COUNT.
  idx_slice() {
    local escaped
    escaped=$(printf '%08x' "$2" | sed 's/\(..\)/\\x\1/g')
    { zcat "$mnist/$1.gz" | head -c 4; printf "$escaped"; zcat "$mnist/$1.gz" | head -c "$3" | tail -c +9
      zcat "$mnist/$1.gz" | tail -c +$(($3 + 1)) | head -c $(($2 * $4)); } | gzip -n > "$dir/$1.gz"
  }
  idx_slice train-images-idx3-ubyte "$2" 16 784
  idx_slice train-labels-idx1-ubyte "$2" 8 1
  idx_slice t10k-images-idx3-ubyte "$3" 16 784
  idx_slice t10k-labels-idx1-ubyte "$3" 8 1
}

finish() {
  if [ "$FAILURES" -gt 0 ]; then echo "$FAILURES failure(s)" >&2; exit 1; fi
  echo "all passed"
}
