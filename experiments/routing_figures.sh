#!/usr/bin/env bash
# Figure of experiments/routing_over_training.sh from results/routing-training/summary.csv: routing
# statistics on the MNIST test set per epoch (epoch 0: the initial model) at n = 8, 64, 512; means over
# seeds 0-2 with 95% t-intervals as error bars. Called by experiments/figures.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
summary=results/routing-training/summary.csv
[ -f "$summary" ] || exit 0
out=results/figures
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$out"
# STAT_N.dat: "epoch mean low high"; the change rate and class expert at the smallest k (n/8).
awk -F, -v dir="$tmp" 'NR == 1 { for (i = 1; i <= NF; i++) c[$i] = i; next }
  { n = $c["experts_run"]; s = $c["statistic"]; k = $c["k"]
    if (k != "" && k != n / 8) next
    print $c["epoch"], $c["mean"], $c["ci95_low"], $c["ci95_high"] >> (dir "/" s "_" n ".dat") }' "$summary"
for f in "$tmp"/*.dat; do sort -n "$f" -o "$f"; done
panel() {  # panel STAT TITLE: the gnuplot plot command of one statistic for the three n
  local p="plot" sep=""
  for n in 8 64 512; do
    p="$p$sep \"$tmp/$1_$n.dat\" using 1:2:3:4 with yerrorlines lw 2 pt 7 ps 0.5 title \"n = $n\""
    sep=","
  done
  printf 'set title "%s"\n%s\n' "$2" "$p"
}
gnuplot <<GP
set terminal pngcairo size 1200,800
set output "$out/routing_training.png"
set multiplot layout 2,2 title "Paper MNIST model, routing statistics on the test set per epoch (seeds 0-2, 95% t-intervals)"
set xlabel "epoch"
set key bottom left
$(panel entropy "normalised routing entropy (1 = uniform)")
set key bottom right
$(panel class_mi "expert-class mutual information I(E;Y)/H(Y)")
$(panel max_dispatch "mean max dispatch weight per slot (1/4 = uniform)")
set key top right
$(panel expert_change_rate "expert change rate, top-(n/8) sets")
unset multiplot
GP
echo "wrote $out/routing_training.png"
