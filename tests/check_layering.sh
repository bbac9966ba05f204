#!/usr/bin/env bash
# The tree's structural rules (README "Architecture"), checked on the sources:
#   data flows cli -> commands -> train/eval/rl -> models -> layers -> kernels; data/ and io/ know no model;
#   games/ (MinAtar) knows nothing else of softmoe;
#   no source file over 400 lines; below src/cli no enumerated setting is compared with a string literal.
# usage: check_layering.sh SOURCE_DIR
set -u
cd "$1" || exit 2
status=0
violation() { echo "layering: $*" >&2; status=1; }

# includes(DIRS...) -> "file:line:#include ..." lines of the project headers those directories include
includes() { for d in "$@"; do grep -Hn '#include "softmoe/' "include/softmoe/$d" "src/$d" -r 2>/dev/null; done; }
forbid() {  # forbid "FROM DIRS" "TO DIRS"
  local to pattern
  pattern=$(for to in $2; do printf '%s|' "softmoe/$to/"; done)
  while read -r line; do violation "$line (no include from $1 into $2)"; done < <(includes $1 | grep -E "${pattern%|}")
}
forbid "layers kernels" "models io train eval commands cli rl games"
forbid "models" "train eval commands cli"
forbid "data io" "models layers train eval commands cli"
forbid "games" "data io models layers kernels train eval commands cli rl"
forbid "train eval" "commands cli"
forbid "commands cli" "kernels"

while read -r f; do
  lines=$(wc -l < "$f")
  [ "$lines" -le 400 ] || violation "$f has $lines lines (at most 400)"
done < <(find src include tests -name '*.cpp' -o -name '*.hpp')

# The names of every enumerated setting, from the names tables.
names=$(grep -rhoE 'EnumName<[A-Za-z]+> k[A-Za-z]+Names\[\] = \{[^;]*' include | grep -oE '"[a-z][a-z-]*"' | sort -u | tr '\n' '|')
names=${names%|}
if [ -n "$names" ]; then
  while read -r line; do violation "$line (a setting compared as a string below src/cli)"; done < <(
    grep -rnE "(==|!=) *($names)|($names) *(==|!=)" src include --include=*.cpp --include=*.hpp | grep -v '^src/cli/')
fi

[ ! -e src/io/json.cpp ] || violation "src/io/json.cpp exists (JSON comes from nlohmann-json)"
exit $status
