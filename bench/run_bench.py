#!/usr/bin/python3
"""Runs softmoe's benchmarks and its two peers (PyTorch, LibTorch) side by side, writes the rows to a CSV
atomically, and prints the softmoe/peer ratios and the issue's targets.

  bench/run_bench.py --build-dir build-bench --out results/bench.csv

Every run is its own process with both thread counts set explicitly: OPENBLAS_NUM_THREADS (OpenBLAS's own
pool, which torch.set_num_threads does not limit) and the torch intra-op threads. softmoe runs with 1 and 2
threads; each peer with OpenBLAS x torch threads in {1, 2} x {1, 2}. A peer whose matmul does not run on
OpenBLAS at a reasonable share of softmoe's sgemm roof gets no ratios (a reference-BLAS peer is ten times
slower, which would make every ratio a lie). Every configuration runs --rounds times, the rounds one after
the other, and keeps its median round: this VM's speed drifts both ways over minutes (a peer once ran one
round 1.3x faster than in any other measurement), so neither one slow nor one lucky round decides a ratio.
Every round's rows are kept beside the CSV (bench-rounds.csv).

Sparse routers (bench_router; torch_peer.py and libtorch_peer --task router): a training step of the paper's
model with Tokens Choice (K = 1, c = 1.25, BPR) or Experts Choice (c = 1) in place of the Soft MoE, at n in
--router-experts, groups of 8 images (Experts Choice: the smallest G of 8, 16, 32, ... whose capacity
round(4 G c / n) is at least 1, so 16 at n = 128), router noise and Tokens Choice's auxiliary loss on. The
peers use fixed-capacity expert buffers filled by gather and combined by index_add (torch_peer.py's
RouterModel says why not the einsum dispatch) and check themselves against a plain implementation first
(torch_peer.py: tests/reference/train_router_torch.py; libtorch_peer: per-token loops); a peer that fails its
check prints no row. Their rows get ratios only: no target was agreed for routers.
"""
import argparse
import csv
import io
import os
import subprocess
import sys
import tempfile
import time

HEADER = ["task", "impl", "threads", "blas_threads", "torch_threads", "experts", "hidden", "batch", "k",
          "seconds_per_step", "samples_per_second", "model_gflops_per_second", "peak_rss_mb", "blas"]
EXPERTS = [2, 8, 32, 128, 512]
ROUTER_EXPERTS = [8, 32, 128]
# (router, settings) of the router rows: Tokens Choice K = 1, c = 1.25 with BPR; Experts Choice c = 1
ROUTERS = [("tokens-choice", dict(k=1, c=1.25, bpr=True)), ("experts-choice", dict(k=1, c=1.0, bpr=False))]
PEER_CONFIGS = [(1, 1), (2, 1), (1, 2), (2, 2)]  # (OpenBLAS threads, torch threads)
MIN_PEER_SHARE = 0.5  # of softmoe's one-thread sgemm roof, for a peer's matmul to count as OpenBLAS-speed
PYTHON = "/usr/bin/python3"  # Debian's python3-torch lives here, not in a virtualenv
HERE = os.path.dirname(os.path.abspath(__file__))


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--build-dir", default="build-bench")
    p.add_argument("--out", default="results/bench.csv")
    p.add_argument("--experts", default=",".join(map(str, EXPERTS)), help="comma-separated n values")
    p.add_argument("--min-seconds", type=float, default=1.0, help="timing window of each configuration")
    p.add_argument("--patience", type=float, default=60.0,
                   help="seconds to wait for an idle machine before each configuration (then it runs anyway)")
    p.add_argument("--rounds", type=int, default=3,
                   help="times every configuration runs, in turn; each row keeps its median round, and every "
                        "round's rows go to OUT with -rounds before .csv")
    p.add_argument("--no-vit", action="store_true", help="skip the ViT training-step rows")
    p.add_argument("--router-experts", default=",".join(map(str, ROUTER_EXPERTS)),
                   help="comma-separated n values of the sparse-router rows")
    p.add_argument("--no-router", action="store_true", help="skip the sparse-router training-step rows")
    p.add_argument("--clock", choices=["wall", "cpu"], default="wall",
                   help="cpu: every implementation times its process's CPU time, one thread only (robust to "
                        "other load, but says nothing about threads)")
    args = p.parse_args()
    if args.rounds < 1:
        p.error(f"--rounds: must be at least 1 (got {args.rounds})")
    return args


def busy_cores(seconds=0.5):
    """How many cores other processes kept busy over the last `seconds` (from /proc/stat)."""
    def sample():
        with open("/proc/stat") as f:
            values = [int(v) for v in f.readline().split()[1:]]
        return sum(values), values[3] + values[4]  # total, idle + iowait
    total0, idle0 = sample()
    time.sleep(seconds)
    total1, idle1 = sample()
    busy = 1.0 - (idle1 - idle0) / max(1, total1 - total0)
    return busy * os.cpu_count()


def wait_for_idle(patience=60.0, threshold=0.2):
    """Waits (up to `patience` s) until other processes use less than `threshold` of a core, so that a
    busy shared machine delays the measurements instead of skewing them. Returns the busy cores seen."""
    start = time.time()
    busy = busy_cores()
    while busy > threshold and time.time() - start < patience:
        time.sleep(1.0)
        busy = busy_cores()
    return busy


NOISY = []  # configurations measured while other processes were busy


PATIENCE = [60.0]
THREADS = [(1, 2)]  # softmoe's thread counts; peers use the PEER_CONFIGS within them


def run(cmd, blas_threads, torch_threads=1):
    """The CSV rows one benchmark process prints; [] (and a message) if it fails."""
    busy = wait_for_idle(PATIENCE[0])
    if busy > 0.2:
        NOISY.append(f"{' '.join(os.path.basename(c) for c in cmd[:4])} ... ({busy:.1f} cores busy)")
    env = dict(os.environ, OPENBLAS_NUM_THREADS=str(blas_threads), OMP_NUM_THREADS=str(torch_threads))
    if THREADS[0] == (1,):
        env["SOFTMOE_BENCH_CLOCK"] = "cpu"
    try:
        done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    except subprocess.TimeoutExpired:
        print(f"  timed out: {' '.join(cmd)}", file=sys.stderr)
        return []
    if done.returncode != 0:
        print(f"  failed ({done.returncode}): {' '.join(cmd)}\n  {done.stderr.strip()[-400:]}", file=sys.stderr)
        return []
    return [row for row in csv.reader(io.StringIO(done.stdout)) if len(row) == len(HEADER)]


def peers_available(build_dir):
    peers = {}
    torch_ok = subprocess.run([PYTHON, "-c", "import torch"], capture_output=True).returncode == 0
    if torch_ok:
        peers["torch"] = lambda task, n, b, t, secs, extra=(): [
            PYTHON, os.path.join(HERE, "torch_peer.py"), "--task", task, "--experts", str(n), "--blas-threads", str(b),
            "--torch-threads", str(t), "--min-seconds", str(secs), *extra]
    else:
        print("PyTorch peer skipped: python3-torch is not installed (apt-get install python3-torch)")
    libtorch = os.path.join(build_dir, "libtorch_peer")
    if os.access(libtorch, os.X_OK):
        peers["libtorch"] = lambda task, n, b, t, secs, extra=(): [
            libtorch, "--task", task, "--experts", str(n), "--blas-threads", str(b), "--torch-threads", str(t),
            "--min-seconds", str(secs), *extra]
    else:
        print(f"LibTorch peer skipped: {libtorch} was not built (libtorch-dev missing?)")
    return peers


def collect(args, peers):
    rows = []
    bench = lambda name: os.path.join(args.build_dir, name)
    experts = [int(n) for n in args.experts.split(",")]
    print("sgemm roof ...", flush=True)
    threads = THREADS[0]
    peer_configs = [(b, t) for b, t in PEER_CONFIGS if b in threads and t in threads]
    for t in threads:
        rows += run([bench("bench_sgemm"), "--threads", str(t)], t)
    for name, command in peers.items():
        for b in threads:
            rows += run(command("sgemm", 0, b, 1, args.min_seconds), b)
    for task, exe in (("train", "bench_train"), ("infer", "bench_infer")):
        for n in experts:
            start = time.time()
            for t in threads:
                rows += run([bench(exe), "--experts", str(n), "--threads", str(t), "--min-seconds",
                             str(args.min_seconds)], t)
            for name, command in peers.items():
                for b, t in peer_configs:
                    rows += run(command(task, n, b, t, args.min_seconds), b, t)
            print(f"{task} n={n}: {time.time() - start:.0f} s", flush=True)
    if not args.no_router:
        for n in [int(v) for v in args.router_experts.split(",")]:
            start = time.time()
            for router, settings in ROUTERS:
                flags = router_flags(router, settings, n)
                for t in threads:
                    rows += run([bench("bench_router"), *flags, "--experts", str(n), "--threads", str(t),
                                 "--min-seconds", str(args.min_seconds)], t)
                for name, command in peers.items():
                    for b, t in peer_configs:
                        rows += run(command("router", n, b, t, args.min_seconds, flags), b, t)
            print(f"routers n={n}: {time.time() - start:.0f} s", flush=True)
    if not args.no_vit:
        start = time.time()
        for t in threads:
            rows += run([bench("bench_vit"), "--threads", str(t), "--min-seconds", str(args.min_seconds)], t)
        if "torch" in peers:
            for b, t in peer_configs:
                rows += run(peers["torch"]("vit", 16, b, t, args.min_seconds), b, t)
        print(f"vit: {time.time() - start:.0f} s", flush=True)
    return [dict(zip(HEADER, r)) for r in rows]


def router_flags(router, settings, n):
    """The command-line flags of one router row, the same for bench_router and both peers."""
    flags = ["--router", router, "--capacity-factor", f"{settings['c']:g}"]
    group = 8
    if router == "tokens-choice":
        flags += ["--router-k", str(settings["k"])] + (["--bpr"] if settings["bpr"] else [])
    else:  # the smallest of 8, 16, 32, ... with an Experts Choice capacity round(4 G c / n) >= 1
        while int(4 * group * settings["c"] / n + 0.5) < 1:
            group *= 2
    return flags + ["--group-images", str(group)]


KEY = ["task", "impl", "threads", "blas_threads", "torch_threads", "experts", "hidden", "batch", "k"]


def median_rounds(rounds):
    """One row per configuration: its median round (the lower middle one of an even count), in the order
    configurations first ran."""
    runs = {}
    for rows in rounds:
        for r in rows:
            runs.setdefault(tuple(r[c] for c in KEY), []).append(r)
    return [sorted(found, key=seconds)[(len(found) - 1) // 2] for found in runs.values()]


def write_atomically(path, rows, header=HEADER):
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    with tempfile.NamedTemporaryFile("w", dir=directory, delete=False, newline="") as f:
        writer = csv.DictWriter(f, fieldnames=header, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
        f.flush()
        os.fsync(f.fileno())
        tmp = f.name
    os.chmod(tmp, 0o644)
    os.replace(tmp, path)


def seconds(r):
    return float(r["seconds_per_step"])


def roof(rows, impl, threads=1):
    """Best sgemm GFLOP/s of impl with `threads` OpenBLAS threads."""
    found = [float(r["model_gflops_per_second"]) for r in rows
             if r["task"] == "sgemm" and r["impl"] == impl and int(r["blas_threads"]) == threads]
    return max(found) if found else 0.0


def trusted_peers(rows, peers):
    ours = roof(rows, "softmoe")
    trusted = []
    for name in peers:
        theirs = roof(rows, name)
        blas = {r["blas"] for r in rows if r["impl"] == name}
        if blas == {"openblas"} and theirs >= MIN_PEER_SHARE * ours:
            trusted.append(name)
            print(f"{name}: matmul {theirs:.0f} GFLOP/s on {', '.join(sorted(blas))} (softmoe's sgemm roof "
                  f"{ours:.0f}): ratios reported")
        else:
            print(f"{name}: matmul {theirs:.0f} GFLOP/s on {', '.join(sorted(blas)) or '?'} against a roof of "
                  f"{ours:.0f}: not OpenBLAS at full speed, NO ratios against it")
    return trusted


def best(rows, task, n, impls, max_threads):
    """The fastest row of `impls` for (task, n) using at most max_threads threads of each kind."""
    found = [r for r in rows if r["task"] == task and int(r["experts"]) == n and r["impl"] in impls
             and int(r["blas_threads"]) <= max_threads and int(r["torch_threads"]) <= max_threads]
    return min(found, key=seconds) if found else None


def label(r):
    if r["impl"] == "softmoe":
        return f"softmoe t={r['threads']}"
    return f"{r['impl']} blas={r['blas_threads']} torch={r['torch_threads']}"


def report(rows, peers):
    trusted = trusted_peers(rows, peers)
    roof1 = roof(rows, "softmoe")
    experts = sorted({int(r["experts"]) for r in rows if r["task"] != "sgemm"})
    tasks = [t for t in ("train", "infer_all", "infer_topk", "train_vit") if any(r["task"] == t for r in rows)]
    tasks += sorted({r["task"] for r in rows if r["task"].startswith("router-")}, reverse=True)
    print(f"\nms per step (train, router-*: batch 256; inference: 5000 inputs; train_vit: batch 128, n = 16), "
          f"median of the rounds; ratio = fastest peer time / softmoe time")
    width = max([11] + [len(t) + 1 for t in tasks])
    print(f"{'task':<{width}}{'n':>5} | {'softmoe 1t':>10} {'peer 1t':>9} {'ratio':>6} | {'softmoe best':>12} "
          f"{'peer best':>10} {'ratio':>6} | peer best configuration")
    for task in tasks:
        for n in sorted({int(r["experts"]) for r in rows if r["task"] == task}):
            ours1, oursb = best(rows, task, n, ["softmoe"], 1), best(rows, task, n, ["softmoe"], 2)
            if not ours1:
                continue
            peer1, peerb = best(rows, task, n, trusted, 1), best(rows, task, n, trusted, 2)
            cell = lambda r: f"{1e3 * seconds(r):.2f}" if r else "-"
            ratio = lambda p, o: f"{seconds(p) / seconds(o):.2f}" if p and o else "-"
            print(f"{task:<{width}}{n:>5} | {cell(ours1):>10} {cell(peer1):>9} {ratio(peer1, ours1):>6} | "
                  f"{cell(oursb):>12} {cell(peerb):>10} {ratio(peerb, oursb):>6} | {label(peerb) if peerb else '-'}")
    two_threads = any(int(r["threads"]) == 2 for r in rows)
    print("\ntargets")
    for n in experts:
        ours1 = best(rows, "train", n, ["softmoe"], 1)
        peer1 = best(rows, "train", n, trusted, 1)
        if ours1 and peer1:
            want = 1.5 if n <= 8 else (5.0 if n >= 128 else 1.0)
            got = seconds(peer1) / seconds(ours1)
            share = float(ours1["model_gflops_per_second"]) / roof1 if roof1 else 0
            extra = f", {100 * share:.0f}% of the one-thread sgemm roof (want >= 50%)" if n <= 8 else ""
            print(f"  train n={n}, one thread: {got:.2f}x the faster peer (want >= {want}x){extra}"
                  f" {'met' if got >= want and (n > 8 or share >= 0.5) else 'NOT met'}")
        oursb, peerb = best(rows, "train", n, ["softmoe"], 2), best(rows, "train", n, trusted, 2)
        if oursb and peerb and two_threads:
            got = seconds(peerb) / seconds(oursb)
            print(f"  train n={n}, best configurations: {got:.2f}x (want >= 2x) {'met' if got >= 2 else 'NOT met'}")
    for n in experts:
        if n >= 64:
            a, k = best(rows, "infer_all", n, ["softmoe"], 1), best(rows, "infer_topk", n, ["softmoe"], 1)
            if a and k:
                share = seconds(k) / seconds(a)
                print(f"  top-k (k = n/8) inference at n={n}: {100 * share:.0f}% of all-expert time (want <= 30%) "
                      f"{'met' if share <= 0.3 else 'NOT met'}")
    one = [r for r in rows if r["task"] == "train" and r["impl"] == "softmoe" and int(r["experts"]) == 8]
    t1 = [r for r in one if int(r["threads"]) == 1]
    t2 = [r for r in one if int(r["threads"]) == 2]
    if t1 and t2:
        gain = seconds(t1[0]) / seconds(t2[0])
        print(f"  2 threads at n=8: {gain:.2f}x the 1-thread throughput (want >= 1.6x) {'met' if gain >= 1.6 else 'NOT met'}")
    for n in experts:
        mine = [float(r["peak_rss_mb"]) for r in rows if r["task"] == "train" and r["impl"] == "softmoe"
                and int(r["experts"]) == n]
        theirs = [float(r["peak_rss_mb"]) for r in rows if r["task"] == "train" and r["impl"] in trusted
                  and int(r["experts"]) == n]
        if mine and theirs:
            print(f"  peak memory, training n={n}: softmoe {max(mine):.0f} MB, peers at least {min(theirs):.0f} MB "
                  f"{'met' if max(mine) <= min(theirs) else 'NOT met'}")
    for limit, what in ((1, "one thread each"), (2, "best configurations"))[:2 if two_threads else 1]:
        ours, peer = best(rows, "train_vit", 16, ["softmoe"], limit), best(rows, "train_vit", 16, trusted, limit)
        if ours and peer:
            print(f"  ViT training step, {what}: softmoe {1e3 * seconds(ours):.1f} ms, PyTorch "
                  f"{1e3 * seconds(peer):.1f} ms ({label(peer)}): {seconds(peer) / seconds(ours):.2f}x")


def main():
    args = parse_args()
    PATIENCE[0] = args.patience
    if args.clock == "cpu":
        THREADS[0] = (1,)
        print("clock: CPU time of each process, one thread only")
    for exe in ("bench_sgemm", "bench_train", "bench_infer", "bench_vit", "bench_router"):
        if not os.access(os.path.join(args.build_dir, exe), os.X_OK):
            sys.exit(f"run_bench.py: {args.build_dir}/{exe} is missing; build bench/ first (make bench)")
    peers = peers_available(args.build_dir)
    load = os.getloadavg()[0]
    print(f"load average before: {load:.2f} on {os.cpu_count()} cores"
          + ("  (other work is running: timings will be noisy)" if load > 0.5 else ""))
    start = time.time()
    rounds = []
    for round_number in range(1, args.rounds + 1):
        print(f"round {round_number} of {args.rounds}", flush=True)
        rounds.append(collect(args, peers))
    rows = median_rounds(rounds)
    write_atomically(args.out, rows)
    every_round = [dict(r, round=str(i + 1)) for i, found in enumerate(rounds) for r in found]
    write_atomically(args.out[:-len(".csv")] + "-rounds.csv" if args.out.endswith(".csv") else args.out + "-rounds",
                     every_round, HEADER + ["round"])
    print(f"wrote {args.out} ({len(rows)} rows, {time.time() - start:.0f} s); load average after: "
          f"{os.getloadavg()[0]:.2f}")
    if NOISY:
        print(f"{len(NOISY)} configurations started while other processes kept the machine busy; rerun for "
              f"clean numbers. First: {NOISY[0]}")
    report(rows, peers)
    if any(r["task"].startswith("router-") for r in rows):
        print("router-*: Tokens Choice (tc: K, c, BPR) or Experts Choice (ec: c; -g16: groups of 16 images) in place "
              "of the Soft MoE; no target agreed for them, ratios only")


if __name__ == "__main__":
    main()
