#!/usr/bin/env bash
# Figures of experiments/generalisation.sh from results/generalisation/summary-WIDTH.csv: the
# generalisation gap (accuracy on the model's own training subset minus test accuracy) against the
# training-set size N per k (one panel per n), and against k per n at the smallest N; means over the
# seeds with 95% t-intervals. Called by experiments/figures.sh.
# Usage: experiments/generalisation_figures.sh [fixed|total]   (the expert width; default fixed)
set -euo pipefail
cd "$(dirname "$0")/.."
width=${1:-fixed}
summary=results/generalisation/summary-$width.csv
suffix=$([ "$width" = fixed ] && echo "" || echo "_$width")
experts_title=$([ "$width" = fixed ] && echo "experts of hidden 64" || echo "experts of hidden int(784 / n)")
[ -f "$summary" ] || exit 0
out=results/figures
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$out"
# ROUTER_K_N.dat: "N mean low high seeds" for gap_accuracy; soft_N.dat for the Soft MoE.
awk -F, -v dir="$tmp" 'NR == 1 { for (i = 1; i <= NF; i++) c[$i] = i; next }
  $c["metric"] == "gap_accuracy" {
    name = $c["router"] == "soft" ? "soft" : "k" $c["router_k"]
    print $c["train_size"], $c["mean"], $c["ci95_low"], $c["ci95_high"], $c["seeds"] >> (dir "/" name "_" $c["experts"] ".dat")
    print $c["router_k"], $c["mean"], $c["ci95_low"], $c["ci95_high"] >> (dir "/byk_" $c["experts"] "_" $c["train_size"] "_" $c["router"] ".dat") }' \
  "$summary"
for f in "$tmp"/*.dat; do sort -n "$f" -o "$f"; done
seeds=$(awk -F, 'NR == 1 { for (i = 1; i <= NF; i++) c[$i] = i; next } { print $c["seeds"] }' "$summary" | sort -n | uniq | paste -sd/ -)
small=$(awk -F, 'NR == 1 { for (i = 1; i <= NF; i++) c[$i] = i; next } { print $c["train_size"] }' "$summary" | sort -n | head -1)
panel() {  # panel N: the plot command of one n, a line per k and the Soft MoE
  local p="plot" sep=""
  for f in "$tmp"/k*_"$1".dat "$tmp"/soft_"$1".dat; do
    [ -f "$f" ] || continue
    local name; name=$(basename "$f" "_$1.dat")
    [ "$name" = soft ] && name="Soft MoE (all experts)" || name="Tokens Choice, k = ${name#k}"
    p="$p$sep \"$f\" using 1:2:3:4 with yerrorlines lw 2 pt 7 ps 0.6 title \"$name\""
    sep=","
  done
  printf 'set title "n = %s %s"\n%s\n' "$1" "$experts_title" "$p"
}
gnuplot <<GP
set terminal pngcairo size 1500,500
set output "$out/generalisation_gap_vs_N$suffix.png"
set multiplot layout 1,3 title "MNIST, gap = accuracy on the own training subset - test accuracy, 3,290 updates, capacity 1.25 (seeds per point: $seeds, 95% t-intervals)"
set logscale x 10
set xrange [600:100000]
set xlabel "training images N"
set ylabel "gap (accuracy)"
set key top right
$(panel 4)
$(panel 16)
$(panel 64)
unset multiplot
GP
by_k="plot" sep=""
for f in "$tmp"/byk_*_"${small}"_tokens-choice.dat; do
  [ -f "$f" ] || continue
  n=$(basename "$f" | cut -d_ -f2)
  by_k="$by_k$sep \"$f\" using 1:2:3:4 with yerrorlines lw 2 pt 7 title \"Tokens Choice, n = $n\""
  sep=","
done
# The Soft MoE evaluated at top-k (experiments/generalisation_soft_topk.sh), at the same N.
soft=results/generalisation/soft-topk-$width-summary.csv
if [ -f "$soft" ]; then
  awk -F, -v dir="$tmp" -v small="$small" 'NR == 1 { for (i = 1; i <= NF; i++) c[$i] = i; next }
    $c["metric"] == "gap_accuracy" && $c["method"] == "topk" && $c["train_size"] == small {
      print $c["k"], $c["mean"], $c["ci95_low"], $c["ci95_high"] >> (dir "/softk_" $c["experts"] ".dat") }' "$soft"
  for f in "$tmp"/softk_*.dat; do
    [ -f "$f" ] || continue
    sort -n "$f" -o "$f"
    n=$(basename "$f" .dat | cut -d_ -f2)
    by_k="$by_k$sep \"$f\" using 1:2:3:4 with yerrorlines dt 2 lw 2 pt 6 title \"Soft MoE at top-k, n = $n\""
    sep=","
  done
fi
gnuplot <<GP
set terminal pngcairo size 800,500
set output "$out/generalisation_gap_vs_k$suffix.png"
set title "MNIST, N = $small: gap against k per n (seeds: $seeds, 95% t-intervals)"
set logscale x 2
set xlabel "experts selected per token k"
set ylabel "gap (accuracy)"
set key top left
$by_k
GP
