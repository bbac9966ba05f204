#!/usr/bin/env bash
# Figures of two seed experiments (called by experiments/figures.sh):
#   theorem1_slots.png  results/theorem1-slots/summary.csv: test R^2 of ||X|| against the total number of
#                       slots n p, one expert with p slots against n experts with p = 1 and 4 (seeds 0-2)
#   small_n.png         results/small-n: per-seed top-k and random accuracy at n = 2 and 4 (seeds 0-9),
#                       softmoe beside the paper's own code, with the means and 95% t-intervals
set -euo pipefail
cd "$(dirname "$0")/.."
out=results/figures
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$out"

f=results/theorem1-slots/summary.csv
if [ -f "$f" ]; then
  awk -F, -v dir="$tmp" 'NR > 1 && $4 == "test_r2" {
      name = $1 == 1 ? "one" : "p" $2
      print $1 * $2, $6, $8, $9 >> (dir "/t1_" name ".dat") }' "$f"
  for d in "$tmp"/t1_*.dat; do sort -n "$d" -o "$d"; done
  gnuplot <<GP
set terminal pngcairo size 800,500
set output "$out/theorem1_slots.png"
set title "Theorem 1 with slots: synthetic ||X||, fixed expert budget (seeds 0-2, 95% t-intervals)"
set xlabel "total slots n p"
set ylabel "test R^2"
set logscale x 2
set key bottom right
plot "$tmp/t1_one.dat" using 1:2:3:4 with yerrorlines lw 2 pt 7 title "one expert, p = 1..16 slots", \\
     "$tmp/t1_p1.dat" using 1:2:3:4 with yerrorlines lw 2 pt 5 title "n experts, p = 1", \\
     "$tmp/t1_p4.dat" using 1:2:3:4 with yerrorlines lw 2 pt 9 title "n experts, p = 4"
GP
fi

ours=results/small-n/results.csv theirs=results/small-n/paper-code.csv
if [ -f "$ours" ] && [ -f "$theirs" ]; then
  # x positions: one slot per (n, k, method), softmoe left, paper code right
  /usr/bin/python3 - "$ours" "$theirs" "$tmp" <<'PY'
import csv, math, os, sys
ours, theirs, tmp = sys.argv[1:]
T = {9: 2.2622}
cases = [(2, 1), (4, 1), (4, 2), (4, 3)]
labels = []
for source, path, shift in (("softmoe", ours, -0.15), ("paper", theirs, 0.15)):
    rows = list(csv.DictReader(open(path)))
    for method, offset in (("topk", 0.0), ("random", 0.4)):
        with open(os.path.join(tmp, f"sn_{source}_{method}.dat"), "w") as dots, \
             open(os.path.join(tmp, f"sn_{source}_{method}_mean.dat"), "w") as means:
            for i, (n, k) in enumerate(cases):
                x = i + offset + shift
                v = [float(r["accuracy"]) for r in rows if r["experts"] == str(n) and r["k"] == str(k) and r["method"] == method]
                for a in v:
                    dots.write(f"{x} {a}\n")
                m = sum(v) / len(v)
                sd = math.sqrt(sum((a - m) ** 2 for a in v) / (len(v) - 1))
                h = T[len(v) - 1] * sd / math.sqrt(len(v))
                means.write(f"{x} {m} {m - h} {m + h}\n")
with open(os.path.join(tmp, "sn_xtics"), "w") as f:
    f.write(", ".join(f'"n={n}, k={k}" {i + 0.2}' for i, (n, k) in enumerate(cases)))
PY
  gnuplot <<GP
set terminal pngcairo size 900,500
set output "$out/small_n.png"
set title "Small n, MNIST: top-k and random (10 trials) per seed, seeds 0-9; bars: mean, 95% t-interval"
set ylabel "test accuracy"
set xtics ($(cat "$tmp/sn_xtics"))
set xrange [-0.5:3.8]
set key bottom right
plot "$tmp/sn_softmoe_topk.dat" using 1:2 with points pt 7 ps 0.6 lc rgb "#1f77b4" title "softmoe top-k", \\
     "$tmp/sn_softmoe_random.dat" using 1:2 with points pt 6 ps 0.6 lc rgb "#1f77b4" title "softmoe random", \\
     "$tmp/sn_paper_topk.dat" using 1:2 with points pt 7 ps 0.6 lc rgb "#d62728" title "paper's code top-k", \\
     "$tmp/sn_paper_random.dat" using 1:2 with points pt 6 ps 0.6 lc rgb "#d62728" title "paper's code random", \\
     "$tmp/sn_softmoe_topk_mean.dat" using 1:2:3:4 with yerrorbars lw 2 pt 0 lc rgb "#1f77b4" notitle, \\
     "$tmp/sn_softmoe_random_mean.dat" using 1:2:3:4 with yerrorbars lw 2 pt 0 lc rgb "#1f77b4" notitle, \\
     "$tmp/sn_paper_topk_mean.dat" using 1:2:3:4 with yerrorbars lw 2 pt 0 lc rgb "#d62728" notitle, \\
     "$tmp/sn_paper_random_mean.dat" using 1:2:3:4 with yerrorbars lw 2 pt 0 lc rgb "#d62728" notitle
GP
fi
