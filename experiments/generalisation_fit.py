#!/usr/bin/python3
"""The criterion of experiments/generalisation.sh, on its results: the gap against N, n and k.

  /usr/bin/python3 experiments/generalisation_fit.py results/generalisation/results-fixed.csv OUT.csv

Rows of OUT.csv (tidy: test, subject, statistic, value):
  * shrinks: for each Tokens Choice (n, k), the mean gap_accuracy over seeds at the smallest and the
    largest N, and whether the first is larger (criterion 1);
  * fit: ordinary least squares of the per-seed gap_accuracy of every Tokens Choice run on
    x = sqrt(k (1 + ln(n / k)) / N) (the bound's shape) and on x = sqrt(1 / N) (N alone): slope,
    its 95% interval (Student t, m - 2 degrees of freedom), intercept, R^2, runs m (criterion 2: the
    bound's slope interval excludes 0 and its R^2 exceeds that of N alone).
"""
import csv
import math
import os
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from welch_compare import t_quantile_975  # noqa: E402


def ols(xs, ys):
    m = len(xs)
    mx, my = sum(xs) / m, sum(ys) / m
    sxx = sum((x - mx) ** 2 for x in xs)
    sxy = sum((x - mx) * (y - my) for x, y in zip(xs, ys))
    slope = sxy / sxx
    intercept = my - slope * mx
    residual = sum((y - intercept - slope * x) ** 2 for x, y in zip(xs, ys))
    total = sum((y - my) ** 2 for y in ys)
    se = math.sqrt(residual / (m - 2) / sxx)
    half = t_quantile_975(m - 2) * se
    return {"slope": slope, "slope_ci95_low": slope - half, "slope_ci95_high": slope + half,
            "intercept": intercept, "r2": 1 - residual / total, "runs": m}


def main():
    source, target = sys.argv[1:3]
    with open(source, newline="") as f:
        rows = [r for r in csv.DictReader(f) if r["router"] == "tokens-choice" and r["method"] == "all"]
    out = []
    cells = {}
    for r in rows:
        cells.setdefault((int(r["experts"]), int(r["router_k"])), {}).setdefault(int(r["train_size"]), []).append(
            float(r["gap_accuracy"]))
    for (n, k), by_size in sorted(cells.items()):
        small, large = min(by_size), max(by_size)
        if small == large:
            continue
        gap_small = sum(by_size[small]) / len(by_size[small])
        gap_large = sum(by_size[large]) / len(by_size[large])
        subject = f"n={n} k={k}"
        out += [("shrinks", subject, f"gap_at_N{small}", gap_small), ("shrinks", subject, f"gap_at_N{large}", gap_large),
                ("shrinks", subject, "seeds", min(len(by_size[small]), len(by_size[large]))),
                ("shrinks", subject, "holds", int(gap_small > gap_large))]
    if len(rows) >= 3:
        gaps = [float(r["gap_accuracy"]) for r in rows]
        bound = [math.sqrt(int(r["router_k"]) * (1 + math.log(int(r["experts"]) / int(r["router_k"])))
                           / int(r["train_size"])) for r in rows]
        size_only = [math.sqrt(1 / int(r["train_size"])) for r in rows]
        for name, xs in (("sqrt(k(1+ln(n/k))/N)", bound), ("sqrt(1/N)", size_only)):
            for statistic, value in ols(xs, gaps).items():
                out.append(("fit", name, statistic, value))
    directory = os.path.dirname(os.path.abspath(target))
    with tempfile.NamedTemporaryFile("w", dir=directory, delete=False, newline="") as tmp:
        w = csv.writer(tmp, lineterminator="\n")
        w.writerow(["test", "subject", "statistic", "value"])
        for test, subject, statistic, value in out:
            w.writerow([test, subject, statistic, f"{value:.6g}"])
    os.replace(tmp.name, target)


if __name__ == "__main__":
    main()
