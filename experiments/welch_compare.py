#!/usr/bin/python3
"""Difference of means between two sets of per-seed results, with a Welch 95% interval and p-value.

  /usr/bin/python3 experiments/welch_compare.py A.csv B.csv OUT.csv --by experts,method,k --metric accuracy

For every --by group present in both files: mean of A, mean of B, A - B, its standard error
sqrt(sA^2/nA + sB^2/nB), Welch-Satterthwaite degrees of freedom, the two-sided 95% interval of the
difference (Student t at those degrees of freedom) and the two-sided p-value of Welch's t test.
The seeds of A and B are treated as independent samples (they are different programs).
"""
import argparse
import csv
import math
import os
import sys
import tempfile


def t_cdf(t, df):
    """Student t distribution function, through the regularised incomplete beta (continued fraction)."""
    x = df / (df + t * t)
    tail = 0.5 * incomplete_beta(df / 2.0, 0.5, x)
    return 1.0 - tail if t > 0 else tail


def incomplete_beta(a, b, x):
    if x <= 0.0:
        return 0.0
    if x >= 1.0:
        return 1.0
    log_front = math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log1p(-x)
    if x > (a + 1.0) / (a + b + 2.0):
        return 1.0 - incomplete_beta(b, a, 1.0 - x)
    # Lentz's continued fraction for I_x(a, b)
    tiny = 1e-300
    c, d = 1.0, 1.0 - (a + b) * x / (a + 1.0)
    d = 1.0 / (d if abs(d) > tiny else tiny)
    f = d
    for m in range(1, 300):
        for numerator in (m * (b - m) * x / ((a + 2 * m - 1) * (a + 2 * m)),
                          -(a + m) * (a + b + m) * x / ((a + 2 * m) * (a + 2 * m + 1))):
            d = 1.0 + numerator * d
            d = 1.0 / (d if abs(d) > tiny else tiny)
            c = 1.0 + numerator / c
            c = c if abs(c) > tiny else tiny
            f *= c * d
        if abs(c * d - 1.0) < 1e-14:
            break
    return math.exp(log_front) * f / a


def t_quantile_975(df):
    low, high = 0.0, 100.0
    for _ in range(200):
        mid = 0.5 * (low + high)
        low, high = (mid, high) if t_cdf(mid, df) < 0.975 else (low, mid)
    return 0.5 * (low + high)


def moments(values):
    n = len(values)
    mean = sum(values) / n
    var = sum((v - mean) ** 2 for v in values) / (n - 1)
    return n, mean, var


def compare(a, b):
    na, ma, va = moments(a)
    nb, mb, vb = moments(b)
    se = math.sqrt(va / na + vb / nb)
    df = (va / na + vb / nb) ** 2 / ((va / na) ** 2 / (na - 1) + (vb / nb) ** 2 / (nb - 1))
    diff = ma - mb
    half = t_quantile_975(df) * se
    p = 2.0 * t_cdf(-abs(diff) / se, df)
    return [na, nb, ma, mb, diff, se, df, diff - half, diff + half, p]


def groups(path, by, metric):
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    missing = [c for c in by + [metric] if rows and c not in rows[0]]
    if missing:
        sys.exit(f"{path}: no column {', '.join(missing)}")
    out = {}
    for r in rows:
        if r[metric] != "":
            out.setdefault(tuple(r[c] for c in by), []).append(float(r[metric]))
    return out


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("a")
    parser.add_argument("b")
    parser.add_argument("output")
    parser.add_argument("--by", required=True, help="comma-separated grouping columns")
    parser.add_argument("--metric", required=True)
    args = parser.parse_args()
    by = args.by.split(",")
    ga, gb = groups(args.a, by, args.metric), groups(args.b, by, args.metric)
    out_dir = os.path.dirname(os.path.abspath(args.output))
    with tempfile.NamedTemporaryFile("w", dir=out_dir, delete=False, newline="") as tmp:
        writer = csv.writer(tmp, lineterminator="\n")
        writer.writerow(by + ["metric", "seeds_a", "seeds_b", "mean_a", "mean_b", "diff", "se", "df",
                              "ci95_low", "ci95_high", "p_welch"])
        for key, a in ga.items():
            if key in gb and len(a) > 1 and len(gb[key]) > 1:
                writer.writerow(list(key) + [args.metric] + [f"{v:.6g}" for v in compare(a, gb[key])])
    os.replace(tmp.name, args.output)


if __name__ == "__main__":
    main()
