#!/usr/bin/env bash
# Figures of experiments/routers_mnist.sh from results/routers/summary.csv (experiments/routers_summary.py),
# called by experiments/figures.sh: accuracy against measured expert FLOPs per image, one panel per n (the
# Soft MoE's top-k curve and every router's own point), and the drop rate against n. Means over seeds
# 0-2 with their sample standard deviations as error bars.
set -euo pipefail
cd "$(dirname "$0")/.."
out=results/figures
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$out"

# The ViT on Fashion-MNIST (experiments/routers_vit.sh): test accuracy per epoch, seed 0.
vit=results/routers-vit
if [ -f "$vit/tc-k1-bpr-seed0/train.csv" ] && [ -f "$vit/ec-c1-seed0/train.csv" ]; then
  gnuplot <<GP
set terminal pngcairo size 800,500
set output "$out/routers_vit_fashion.png"
set title "Fashion-MNIST ViT, 16 experts of hidden 64 in blocks 2-3 (seed 0)"
set xlabel "epoch"
set ylabel "test accuracy"
set datafile separator ","
set key bottom right
plot "results/fashion-mnist-vit/softmoe/train.csv" using 1:5 every ::1 with linespoints lw 2 title "Soft MoE", \
     "$vit/tc-k1-bpr-seed0/train.csv" using 1:5 every ::1 with linespoints lw 2 title "Tokens Choice K = 1, c = 1, BPR", \
     "$vit/ec-c1-seed0/train.csv" using 1:5 every ::1 with linespoints lw 2 title "Experts Choice c = 1", \
     "results/fashion-mnist-vit/dense/train.csv" using 1:5 every ::1 with linespoints lw 2 dt 2 title "dense ViT"
GP
fi

summary=results/routers/summary.csv
[ -f "$summary" ] || exit 0

# series FILE AWK-CONDITION: "mflops accuracy sd" rows of summary.csv matching the condition.
awk -F, -v dir="$tmp" 'NR == 1 { for (i = 1; i <= NF; i++) c[$i] = i; next }
  { n = $c["experts"]; cfg = $c["config"]; m = $c["method"]
    line = sprintf("%g %s %s", $c["expert_flops_mean"] / 1e6, $c["accuracy_mean"], $c["accuracy_sd"])
    if (cfg == "soft") print line >> (dir "/soft_" n ".dat")
    else if (cfg == "dense") print line >> (dir "/dense.dat")
    else if (cfg ~ /^tc-k1/) print line >> (dir "/tc1_" n ".dat")
    else if (cfg ~ /^tc-k2/) print line >> (dir "/tc2_" n ".dat")
    else if (cfg ~ /^ec-/) print line >> (dir "/ec_" n ".dat")
    else if (cfg == "matched-tc") print line >> (dir "/mtc_" n ".dat")
    else if (cfg == "matched-ec") print line >> (dir "/mec_" n ".dat")
    if (cfg != "soft" && cfg != "dense")
      print n, $c["drop_rate_mean"], $c["drop_rate_sd"] >> (dir "/drop_" cfg ".dat") }' "$summary"
for f in "$tmp"/*.dat; do sort -g "$f" -o "$f"; done
touch "$tmp/dense.dat"

plots=""
for n in 4 8 16 32 64 128; do
  [ -f "$tmp/soft_$n.dat" ] || continue
  series="\"$tmp/soft_$n.dat\" using 1:2:3 with yerrorlines lw 2 pt 7 ps 0.4 title \"Soft MoE top-k (k = 1..n)\""
  add() { [ -s "$1" ] && series="$series, \"$1\" using 1:2:3 with yerrorbars pt $2 ps 1.2 title \"$3\"" || true; }
  add "$tmp/tc1_$n.dat" 9 "Tokens Choice K = 1"
  add "$tmp/tc2_$n.dat" 11 "Tokens Choice K = 2"
  add "$tmp/ec_$n.dat" 5 "Experts Choice"
  add "$tmp/mtc_$n.dat" 13 "TC, K = n/4 (matched)"
  add "$tmp/mec_$n.dat" 15 "EC, c = n/4 (matched)"
  add "$tmp/dense.dat" 3 "dense MLP"
  plots="$plots
set title \"n = $n\"
plot $series"
done
gnuplot <<GP
set terminal pngcairo size 1500,900 font ",9"
set output "$out/routers_mnist.png"
set multiplot layout 2,3 title "MNIST, paper model: test accuracy against measured expert MFLOP per image (mean ± sd, seeds 0-2)"
set xlabel "expert MFLOP per image (measured)"
set ylabel "test accuracy"
set logscale x
set yrange [0.6:1]
set key bottom right
$plots
unset multiplot
GP

drops=""
for f in "$tmp"/drop_*.dat; do
  name=$(basename "$f" .dat); name=${name#drop_}
  drops="$drops${drops:+, }\"$f\" using 1:2:3 with yerrorlines lw 2 title \"$name\""
done
gnuplot <<GP
set terminal pngcairo size 900,550
set output "$out/routers_drop_rate.png"
set title "Dropped share (Tokens Choice: pairs past capacity; Experts Choice: tokens no expert takes), test set"
set xlabel "experts n"
set ylabel "drop rate (mean ± sd, seeds 0-2)"
set logscale x 2
set key outside right
plot $drops
GP
