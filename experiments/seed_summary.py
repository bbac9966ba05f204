#!/usr/bin/python3
"""Mean, sample standard deviation and two-sided 95% Student-t interval over seeds, per group.

  /usr/bin/python3 experiments/seed_summary.py IN.csv OUT.csv --by experts,slots --metrics test_mse,train_mse

Rows of IN.csv with the same --by values form a group (the seed column is whatever varies inside it);
OUT.csv has the --by columns, then per metric: metric, seeds, mean, sd, ci95_low, ci95_high (tidy: one row
per group and metric). One seed: sd 0 and the interval equal to the mean. Groups in first-seen order.
"""
import argparse
import csv
import math
import os
import sys
import tempfile

# two-sided 95% Student-t quantiles by degrees of freedom (1..30); beyond, 1.96 + 2.4 / df (error < 2e-3)
T95 = [None, 12.7062, 4.3027, 3.1824, 2.7764, 2.5706, 2.4469, 2.3646, 2.3060, 2.2622, 2.2281, 2.2010, 2.1788,
       2.1604, 2.1448, 2.1314, 2.1199, 2.1098, 2.1009, 2.0930, 2.0860, 2.0796, 2.0739, 2.0687, 2.0639, 2.0595,
       2.0555, 2.0518, 2.0484, 2.0452, 2.0423]


def t95(df):
    return T95[df] if df < len(T95) else 1.96 + 2.4 / df


def interval(values):
    n = len(values)
    mean = sum(values) / n
    if n < 2:
        return mean, 0.0, mean, mean
    sd = math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1))
    half = t95(n - 1) * sd / math.sqrt(n)
    return mean, sd, mean - half, mean + half


def summarise(rows, by, metrics):
    groups = {}
    for row in rows:
        groups.setdefault(tuple(row[c] for c in by), []).append(row)
    out = []
    for key, members in groups.items():
        for metric in metrics:
            values = [float(r[metric]) for r in members if r.get(metric, "") != ""]
            if not values:
                continue
            mean, sd, low, high = interval(values)
            out.append(list(key) + [metric, len(values), repr(mean), repr(sd), repr(low), repr(high)])
    return out


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("input")
    parser.add_argument("output")
    parser.add_argument("--by", required=True, help="comma-separated grouping columns")
    parser.add_argument("--metrics", required=True, help="comma-separated metric columns")
    parser.add_argument("--where", default="", help="COLUMN=VALUE[,COLUMN=VALUE]: only matching rows")
    args = parser.parse_args()
    with open(args.input, newline="") as f:
        rows = list(csv.DictReader(f))
    for cond in filter(None, args.where.split(",")):
        column, value = cond.split("=", 1)
        rows = [r for r in rows if r[column] == value]
    by, metrics = args.by.split(","), args.metrics.split(",")
    missing = [c for c in by + metrics if rows and c not in rows[0]]
    if missing:
        sys.exit(f"{args.input}: no column {', '.join(missing)}")
    out_dir = os.path.dirname(os.path.abspath(args.output))
    with tempfile.NamedTemporaryFile("w", dir=out_dir, delete=False, newline="") as tmp:
        writer = csv.writer(tmp, lineterminator="\n")
        writer.writerow(by + ["metric", "seeds", "mean", "sd", "ci95_low", "ci95_high"])
        writer.writerows(summarise(rows, by, metrics))
    os.replace(tmp.name, args.output)


if __name__ == "__main__":
    main()
