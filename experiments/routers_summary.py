#!/usr/bin/python3
"""Summarises experiments/routers_mnist.sh: per (configuration, n, method, k) the mean over seeds, the
sample standard deviation and a 95% Student-t interval of the test accuracy, the mean measured expert
FLOPs per image and the mean drop rate; and the BPR table.

  /usr/bin/python3 experiments/routers_summary.py results/routers

Reads DIR/<config>.csv (the sweeps' results.csv), writes DIR/summary.csv, DIR/bpr.md and DIR/tables.md
(the tables of results/README.md: equal cost, best n, drop rates, routers against the Soft MoE's top-k).
"""
import csv
import glob
import math
import os
import sys

# two-sided 95% Student-t quantiles by degrees of freedom
T95 = {1: 12.706, 2: 4.303, 3: 3.182, 4: 2.776, 5: 2.571, 6: 2.447, 7: 2.365, 8: 2.306, 9: 2.262, 10: 2.228}


def stats(values):
    n = len(values)
    mean = sum(values) / n
    if n < 2:
        return mean, float("nan"), float("nan"), float("nan")
    sd = math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1))
    half = T95.get(n - 1, 1.96) * sd / math.sqrt(n)
    return mean, sd, mean - half, mean + half


def config_of(path):
    name = os.path.basename(path)[:-4]
    for suffix in ("-g16", "-g32"):  # the larger groups of the same Experts Choice setting
        if name.startswith("ec-") and name.endswith(suffix):
            return name[: -len(suffix)], name
    if name.startswith("matched-"):
        return name.rsplit("-n", 1)[0], name
    return name, name


def main():
    directory = sys.argv[1] if len(sys.argv) > 1 else "results/routers"
    groups = {}
    for path in sorted(glob.glob(os.path.join(directory, "*.csv"))):
        if os.path.basename(path) in ("summary.csv", "torch_check.csv"):
            continue
        config, sweep = config_of(path)
        for row in csv.DictReader(open(path)):
            key = (config, int(row["experts"]), row["method"], int(row["k"]))
            g = groups.setdefault(key, {"acc": [], "flops": [], "drop": [], "seeds": [], "sweeps": set(),
                                        "router": row.get("router", "soft"), "hidden": row["hidden"]})
            g["acc"].append(float(row["accuracy"]))
            g["flops"].append(float(row["expert_flops"]) if row["expert_flops"] else float("nan"))
            g["drop"].append(float(row["drop_rate"]) if row.get("drop_rate") else 0.0)
            g["seeds"].append(row["seed"])
            g["sweeps"].add(sweep)
    rows = []
    for (config, n, method, k), g in sorted(groups.items()):
        mean, sd, low, high = stats(g["acc"])
        dmean, dsd, _, _ = stats(g["drop"])
        rows.append({"config": config, "router": g["router"], "experts": n, "hidden": g["hidden"], "method": method,
                     "k": k, "seeds": len(g["acc"]), "accuracy_mean": f"{mean:.5f}", "accuracy_sd": f"{sd:.5f}",
                     "accuracy_ci95_low": f"{low:.5f}", "accuracy_ci95_high": f"{high:.5f}",
                     "expert_flops_mean": f"{sum(g['flops']) / len(g['flops']):.0f}",
                     "drop_rate_mean": f"{dmean:.5f}", "drop_rate_sd": f"{dsd:.5f}",
                     "sweeps": "+".join(sorted(g["sweeps"]))})
    out = os.path.join(directory, "summary.csv")
    with open(out + ".tmp", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0].keys()))
        w.writeheader()
        w.writerows(rows)
    os.replace(out + ".tmp", out)

    # BPR table: Tokens Choice accuracy (mean +- sd over seeds) with and without BPR
    index = {(r["config"], r["experts"]): r for r in rows if r["method"] == "all"}
    lines = ["| n | K | c | without BPR | with BPR | drop without | drop with |", "|---|---|---|---|---|---|---|"]
    for k in (1, 2):
        for c in ("1", "1.25"):
            for n in sorted({r["experts"] for r in rows}):
                plain, bpr = index.get((f"tc-k{k}-c{c}", n)), index.get((f"tc-k{k}-c{c}-bpr", n))
                if not plain or not bpr:
                    continue
                cell = lambda r: f"{float(r['accuracy_mean']):.4f} ± {float(r['accuracy_sd']):.4f}"
                lines.append(f"| {n} | {k} | {c} | {cell(plain)} | {cell(bpr)} | {float(plain['drop_rate_mean']):.3f} "
                             f"| {float(bpr['drop_rate_mean']):.3f} |")
    with open(os.path.join(directory, "bpr.md.tmp"), "w") as f:
        f.write("\n".join(lines) + "\n")
    os.replace(os.path.join(directory, "bpr.md.tmp"), os.path.join(directory, "bpr.md"))
    write_tables(rows, os.path.join(directory, "tables.md"))
    print(f"wrote {out} ({len(rows)} rows), bpr.md and tables.md")


def write_tables(rows, path):
    at = {(r["config"], r["experts"], r["method"], r["k"]): r for r in rows}
    alls = {(r["config"], r["experts"]): r for r in rows if r["method"] == "all"}
    ns = sorted({r["experts"] for r in rows if r["config"] == "soft"})
    ci = lambda r: (f"{100 * float(r['accuracy_mean']):.2f} [{100 * float(r['accuracy_ci95_low']):.2f}, "
                    f"{100 * float(r['accuracy_ci95_high']):.2f}]") if r else "-"
    mf = lambda r: f"{float(r['expert_flops_mean']) / 1e6:.3f}" if r else "-"
    out = ["### Equal cost: Soft MoE (p = 1) and the compute-matched routers (K = c = n/4)", "",
           "| n | Soft MoE | MFLOP | TC K = n/4, BPR | MFLOP | EC c = n/4 | MFLOP |", "|---|---|---|---|---|---|---|"]
    for n in ns:
        soft, tc, ec = alls.get(("soft", n)), alls.get(("matched-tc", n)), alls.get(("matched-ec", n))
        out.append(f"| {n} | {ci(soft)} | {mf(soft)} | {ci(tc)} | {mf(tc)} | {ci(ec)} | {mf(ec)} |")
    configs = [c for c in ("tc-k1-c1", "tc-k1-c1-bpr", "tc-k1-c1.25", "tc-k1-c1.25-bpr", "tc-k2-c1", "tc-k2-c1-bpr",
                           "tc-k2-c1.25", "tc-k2-c1.25-bpr", "ec-c0.5", "ec-c1", "ec-c2", "matched-tc", "matched-ec", "dense")
               if any(k[0] == c for k in alls)]
    out += ["", "### Accuracy (mean [95% CI], %) and measured expert MFLOP per image by n", "",
            "| config | " + " | ".join(f"n = {n}" for n in ns) + " | best n |", "|---|" + "---|" * (len(ns) + 1)]
    for c in ["soft"] + configs:
        cells, best = [], None
        for n in ns:
            r = alls.get((c, n))
            cells.append(f"{ci(r)} ({mf(r)})" if r else "-")
            if r and (best is None or float(r["accuracy_mean"]) > float(best["accuracy_mean"])):
                best = r
        out.append(f"| {c} | " + " | ".join(cells) + f" | {best['experts'] if best else '-'} |")
    out += ["", "### Drop rate on the test set (mean ± sd over seeds)", "",
            "| config | " + " | ".join(f"n = {n}" for n in ns) + " |", "|---|" + "---|" * len(ns)]
    for c in configs:
        cells = []
        for n in ns:
            r = alls.get((c, n))
            cells.append(f"{float(r['drop_rate_mean']):.3f} ± {float(r['drop_rate_sd']):.3f}" if r else "-")
        out.append(f"| {c} | " + " | ".join(cells) + " |")
    # each router against the Soft MoE's top-k curve of the same n at the nearest costs below and above
    out += ["", "### Routers against the Soft MoE's top-k curve of the same n at the same measured cost", "",
            "| config | n | router (MFLOP) | Soft MoE top-k just below: k, acc (MFLOP) | just above |",
            "|---|---|---|---|---|"]
    for c in configs:
        for n in ns:
            r = alls.get((c, n))
            if not r:
                continue
            flops = float(r["expert_flops_mean"])
            curve = sorted(((float(q["expert_flops_mean"]), q) for q in rows
                            if q["config"] == "soft" and q["experts"] == n), key=lambda t: t[0])
            below = [q for f, q in curve if f <= flops]
            above = [q for f, q in curve if f > flops]
            cell = lambda q: f"k = {q['k']}: {ci(q)} ({mf(q)})" if q else "-"
            out.append(f"| {c} | {n} | {ci(r)} ({mf(r)}) | {cell(below[-1] if below else None)} | "
                       f"{cell(above[0] if above else None)} |")
    with open(path + ".tmp", "w") as f:
        f.write("\n".join(out) + "\n")
    os.replace(path + ".tmp", path)


if __name__ == "__main__":
    main()
