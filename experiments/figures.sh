#!/usr/bin/env bash
# Renders results/figures/*.png from the committed CSVs with gnuplot (`make figures`).
set -euo pipefail
cd "$(dirname "$0")/.."
out=results/figures
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$out"

# column NAME FILE: the 1-based index of a CSV column.
column() { head -1 "$2" | tr ',' '\n' | grep -nx "$1" | cut -d: -f1; }

# Synthetic: mean test MSE (and R²) against the number of experts at a fixed expert parameter count.
if [ -f results/synthetic/synthetic.csv ]; then
  f=results/synthetic/synthetic.csv
  awk -F, -v n="$(column experts "$f")" -v m="$(column test_mse "$f")" -v v="$(column target_variance "$f")" \
    'NR > 1 { s[$n] += $m; q[$n] += $m * $m; var[$n] += $v; c[$n]++ }
     END { for (k in s) { mean = s[k] / c[k]; sd = c[k] > 1 ? sqrt((q[k] - c[k] * mean * mean) / (c[k] - 1)) : 0;
           print k, mean, sd, var[k] / c[k] } }' "$f" | sort -n > "$tmp/synthetic.dat"
  gnuplot <<GP
set terminal pngcairo size 800,500
set output "$out/synthetic_test_mse.png"
set title "Representing ||X|| at a fixed expert parameter count (8,192 weights)"
set xlabel "experts n (hidden width 8192 / (32 n))"
set ylabel "test MSE (mean ± sd over seeds)"
set logscale x 2
set yrange [0:*]
set key top right
plot "$tmp/synthetic.dat" using 1:2:3 with yerrorlines lw 2 title "Soft MoE", \
     "$tmp/synthetic.dat" using 1:4 with lines dt 2 title "target variance (predict the mean)"
GP
fi

# Selection curves: accuracy against k, top-k against random (mean ± sd), for every selection CSV.
plot_selection() {  # CSV PNG TITLE [YRANGE, default 0:1]
  local f=$1 n
  n=$(awk -F, 'NR == 2 { print $1 }' "$f")
  awk -F, '$3 == "topk" && $4 == "all" { print $2, $5 }' "$f" | sort -n > "$tmp/topk.dat"
  awk -F, '$3 == "random" && $4 == "all" { print $2, $5, $6 }' "$f" | sort -n > "$tmp/random.dat"
  awk -F, '$3 == "oracle" { print $2, $5 }' "$f" | sort -n > "$tmp/oracle.dat"
  awk -F, '$3 == "topk-renorm" && $4 == "all" { print $2, $5 }' "$f" | sort -n > "$tmp/renorm.dat"
  local all
  all=$(awk -F, '$3 == "all" { print $5 }' "$f")
  gnuplot <<GP
set terminal pngcairo size 800,500
set output "$2"
set title "$3"
set xlabel "experts kept per input, k (of $n)"
set ylabel "test accuracy"
set key bottom right
set yrange [${4:-0:1}]
plot "$tmp/topk.dat" using 1:2 with linespoints lw 2 title "top-k by combine weight", \
     "$tmp/random.dat" using 1:2:3 with yerrorlines title "random k (10 trials)", \
     $( [ -s "$tmp/renorm.dat" ] && echo "\"$tmp/renorm.dat\" using 1:2 with linespoints dt 3 title \"top-k, C renormalised\"," ) \
     $( [ -s "$tmp/oracle.dat" ] && echo "\"$tmp/oracle.dat\" using 1:2 with points pt 7 title \"oracle: some k-subset is right\"," ) \
     $all with lines dt 2 title "all experts"
GP
}
for f in results/specialize/*.csv; do
  [ -f "$f" ] && plot_selection "$f" "$out/selection_$(basename "$f" .csv).png" "Expert subset selection, MNIST, $(basename "$f" .csv)"
done

# The paper suite (MNIST, Fashion-MNIST), seeds 0-2 from summary.csv: all-expert accuracy, top-k and
# random at k = n/8 against n; and every k at n = 256, 512 from every_k_summary.csv. Bars: 95% t-intervals.
plot_suite() {  # DIR DATASET OUT_PREFIX
  local dir=$1 name=$2 prefix=$3 f=$1/summary.csv
  [ -f "$f" ] || return 0
  awk -F, 'NR > 1 && $4 == "accuracy" { key = $1 " " $2; if ($2 == "all" || $3 * 8 == $1) print $1, $2, $5, $6, $8, $9 }' "$f"     | sort -n > "$tmp/suite.dat"
  local seeds; seeds=$(awk 'NR == 1 { print $3 }' "$tmp/suite.dat")
  for m in all topk random; do awk -v m=$m '$2 == m' "$tmp/suite.dat" > "$tmp/suite_$m.dat"; done
  gnuplot <<GP
set terminal pngcairo size 800,500
set output "${prefix}.png"
set title "$name paper suite, hidden = int(784 / n), seeds 0-$((seeds - 1)), 95% t-intervals"
set xlabel "experts n"
set ylabel "test accuracy"
set logscale x 2
set key bottom left
plot "$tmp/suite_all.dat" using 1:4:5:6 with yerrorlines lw 2 title "all experts", \
     "$tmp/suite_topk.dat" using 1:4:5:6 with yerrorlines title "top-k, k = n/8", \
     "$tmp/suite_random.dat" using 1:4:5:6 with yerrorlines title "random k = n/8 (10 trials per seed)"
GP
  f=$dir/every_k_summary.csv
  [ -f "$f" ] || return 0
  for n in 256 512; do for m in topk random; do
    awk -F, -v n=$n -v m=$m 'NR > 1 && $1 == n && $2 == m && $4 == "accuracy" { print $3 / n, $6, $8, $9 }' "$f" \
      | sort -g > "$tmp/every_${m}_$n.dat"
  done; done
  gnuplot <<GP
set terminal pngcairo size 800,500
set output "${prefix}_every_k.png"
set title "$name, every k at n = 256 and 512, $seeds seeds, 95% t-intervals"
set xlabel "share of experts kept, k / n"
set ylabel "test accuracy"
set key bottom right
plot "$tmp/every_topk_256.dat" using 1:3:4 with filledcurves fs transparent solid 0.25 lc rgb "#1f77b4" notitle, \
     "$tmp/every_topk_256.dat" using 1:2 with lines lc rgb "#1f77b4" title "top-k, n = 256", \
     "$tmp/every_topk_512.dat" using 1:3:4 with filledcurves fs transparent solid 0.25 lc rgb "#d62728" notitle, \
     "$tmp/every_topk_512.dat" using 1:2 with lines lc rgb "#d62728" title "top-k, n = 512", \
     "$tmp/every_random_256.dat" using 1:2:3:4 with yerrorlines lc rgb "#1f77b4" dt 2 title "random, n = 256", \
     "$tmp/every_random_512.dat" using 1:2:3:4 with yerrorlines lc rgb "#d62728" dt 2 title "random, n = 512"
GP
}
plot_suite results/mnist-suite MNIST "$out/mnist_suite"
plot_suite results/fashion-mnist-suite Fashion-MNIST "$out/fashion_mnist_suite"

# The Soft MoE ViT on Fashion-MNIST against the dense ViT, test accuracy per epoch.
if [ -f results/fashion-mnist-vit/softmoe/train.csv ] && [ -f results/fashion-mnist-vit/dense/train.csv ]; then
  gnuplot <<GP
set terminal pngcairo size 800,500
set output "$out/fashion_mnist_vit.png"
set title "ViT on Fashion-MNIST (patch 7, dim 64, depth 4), 2 threads"
set xlabel "epoch"
set ylabel "test accuracy"
set datafile separator ","
set key bottom right
set yrange [0.75:0.95]
plot "results/fashion-mnist-vit/softmoe/train.csv" using 1:5 every ::1 with linespoints lw 2 \
       title "Soft MoE in blocks 2, 3 (16 experts of hidden 64)", \
     "results/fashion-mnist-vit/dense/train.csv" using 1:5 every ::1 with linespoints lw 2 title "dense MLPs (hidden 256)", \
     0.88 with lines dt 2 title "88%"
GP
fi

# ViT selection at a fixed expert budget: per n the usual curve, and top-k / random against k / n.
plot_vit_selection() {  # DIR NAME TITLE_SUFFIX YRANGE_PER_N YRANGE_ALL
  local sel=$1 name=$2 suffix=$3 yrange=$4 yrange_all=$5 plot_cmd="" n
  [ -f "$sel/selection.csv" ] || return 0
  for n in 4 16 64; do
    [ -f "$sel/n$n/specialize.csv" ] || continue
    plot_selection "$sel/n$n/specialize.csv" "$out/${name}-n$n.png" \
      "Soft MoE ViT, Fashion-MNIST, n = $n$suffix (selection in both MoE layers)" "$yrange"
    awk -F, -v n="$n" '$1 == n && $4 == "all" && ($3 == "topk" || $3 == "all") { print $2 / n, $5 }' "$sel/selection.csv" \
      | sort -g > "$tmp/vit_top$n.dat"
    awk -F, -v n="$n" '$1 == n && $4 == "all" && ($3 == "random" || $3 == "all") { print $2 / n, $5 }' "$sel/selection.csv" \
      | sort -g > "$tmp/vit_rnd$n.dat"
    plot_cmd+="\"$tmp/vit_top$n.dat\" using 1:2 with linespoints lw 2 lc $((n == 4 ? 1 : n == 16 ? 2 : 3)) title \"n = $n, top-k\", "
    plot_cmd+="\"$tmp/vit_rnd$n.dat\" using 1:2 with linespoints dt 2 lc $((n == 4 ? 1 : n == 16 ? 2 : 3)) title \"n = $n, random\", "
  done
  gnuplot <<GP
set terminal pngcairo size 800,500
set output "$out/$name.png"
set title "Soft MoE ViT, Fashion-MNIST$suffix: selection at one expert budget (n x hidden = 1024)"
set xlabel "fraction of experts kept per input, k / n (log scale)"
set ylabel "test accuracy"
set key bottom right
set logscale x 2
set yrange [$yrange_all]
plot ${plot_cmd%, }
GP
}
# ViT selection at a fixed expert budget: per n the usual curve, and top-k / random against k / n.
plot_vit_selection results/fashion-mnist-vit-selection selection_vit_fashion "" 0.74:0.9 0.82:0.9
plot_vit_selection results/fashion-mnist-vit-selection-noresidual selection_vit_fashion_noresidual \
  ", no MoE residual" 0.2:0.9 0.2:0.9
experiments/routers_figures.sh
experiments/routing_figures.sh
experiments/generalisation_figures.sh fixed
experiments/generalisation_figures.sh total
experiments/seed_figures.sh
ls "$out"
