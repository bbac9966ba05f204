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

# Drops the CSV columns whose names contain "seconds".
without_timing() {
  awk -F, 'NR == 1 { for (i = 1; i <= NF; i++) keep[i] = ($i !~ /seconds/) }
           { line = ""; for (i = 1; i <= NF; i++) if (keep[i]) line = line (line == "" ? "" : ",") $i; print line }' "$1"
}

finish() {
  if [ "$FAILURES" -gt 0 ]; then echo "$FAILURES failure(s)" >&2; exit 1; fi
  echo "all passed"
}
