#!/usr/bin/python3
"""The PyTorch peer of softmoe's benchmark: the paper's MNIST Soft MoE model written the way a user
who cares about speed writes it (every expert batched in one bmm, einsum-free dispatch and combine as
batched matmuls, no Python loop over experts in the dense model), timed like bench/bench_train and
bench/bench_infer, and printed as CSV rows of bench/common.hpp's schema (no header).

  torch_peer.py --task train --experts 8 --blas-threads 1 --torch-threads 1
  torch_peer.py --task infer --experts 128 ...      (all-expert and top-k inference rows)
  torch_peer.py --task sgemm ...                    (torch.mm GFLOP/s: proves the BLAS is not crippled)
  torch_peer.py --task vit ...                      (one training step of the Soft MoE ViT, bench_vit's model)

OPENBLAS_NUM_THREADS must be set in the environment before Python starts (torch.set_num_threads does
not limit OpenBLAS's own pool); the script refuses to run when it disagrees with --blas-threads.
"""
import argparse
import math
import os
import statistics
import sys
import time

TOKENS, DIM, CLASSES = 4, 196, 10  # the paper's MNIST model: 4 patches of 14 x 14 pixels


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--task", choices=["train", "infer", "sgemm", "vit"], required=True)
    p.add_argument("--impl", default="torch")
    p.add_argument("--experts", type=int, default=8)
    p.add_argument("--batch", type=int, default=256)
    p.add_argument("--infer-batch", type=int, default=5000)
    p.add_argument("--chunk", type=int, default=500)
    p.add_argument("--blas-threads", type=int, required=True)
    p.add_argument("--torch-threads", type=int, required=True)
    p.add_argument("--min-seconds", type=float, default=1.0)
    p.add_argument("--vit-batch", type=int, default=128)
    p.add_argument("--label-smoothing", type=float, default=0.1)
    return p.parse_args()


def peak_rss_mb():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024.0
    return float("nan")


def reset_peak_rss():
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        pass


def blas_library():
    """The BLAS this process really loaded, from its memory map."""
    names = set()
    with open("/proc/self/maps") as f:
        for line in f:
            path = line.split()[-1] if "/" in line else ""
            base = os.path.basename(path)
            if "blas" in base or "mkl" in base:
                names.add(os.path.realpath(path))
    if any("openblas" in n for n in names):
        return "openblas"
    if any("mkl" in n for n in names):
        return "mkl"
    if any("/blas/" in n for n in names):
        return "reference"
    return "unknown"


def model_flops(n, h, samples, kept=None):
    """Forward multiply-adds x 2 of the paper's model (bench/common.hpp has the same formula)."""
    kept = n if kept is None else kept
    m, d, S = TOKENS, DIM, n
    router = 2.0 * m * d * S
    per_kept_slot = 2.0 * m * d + 2.0 * d * h + 2.0 * h * d + 2.0 * m * d  # dispatch, experts, combine
    head = 2.0 * m * d * CLASSES
    return samples * (router + kept * per_kept_slot + head)


def row(task, impl, args, n, h, batch, k, seconds, flops, rss, samples=None):
    threads = max(args.blas_threads, args.torch_threads)
    samples = batch if samples is None else samples
    return (f"{task},{impl},{threads},{args.blas_threads},{args.torch_threads},{n},{h},{batch},{k},"
            f"{seconds:.6g},{samples / seconds:.6g},{flops / seconds / 1e9:.6g},{rss:.1f},{blas_library()}")


# Wall clock or, with SOFTMOE_BENCH_CLOCK=cpu (one thread on a busy machine), the process's CPU time, as
# bench/common.hpp's now_seconds.
CLOCK = time.process_time if os.environ.get("SOFTMOE_BENCH_CLOCK") == "cpu" else time.perf_counter


def timed(fn, min_seconds, min_runs, max_runs, warmup):
    for _ in range(warmup):
        fn()
    times = []
    start = CLOCK()
    while len(times) < max_runs and (len(times) < min_runs or CLOCK() - start < min_seconds):
        t0 = CLOCK()
        fn()
        times.append(CLOCK() - t0)
    return statistics.median(times)


class SoftMoeModel:
    """Parameters as softmoe's checkpoint names them; normalisation `all`, p = 1, no biases."""

    def __init__(self, torch, n, h, seed=0):
        g = torch.Generator().manual_seed(seed)

        def uniform(shape, bound):
            return ((torch.rand(shape, generator=g) * 2 - 1) * bound).requires_grad_()

        self.torch = torch
        self.n, self.h = n, h
        self.phi = uniform((DIM, n), 1.0)
        self.scale = torch.ones(1, requires_grad=True)
        self.w1 = uniform((n, DIM, h), 1 / math.sqrt(DIM))
        self.w2 = uniform((n, h, DIM), 1 / math.sqrt(h))
        self.head = uniform((CLASSES, TOKENS * DIM), 1 / math.sqrt(TOKENS * DIM))

    def parameters(self):
        return [self.phi, self.scale, self.w1, self.w2, self.head]

    def route(self, x):
        """x [B, m, d] -> xr [B, m, d], dispatch and combine [B, m, S]."""
        xr = x / (x.norm(dim=-1, keepdim=True) + 1e-6)
        phir = self.scale * self.phi / (self.phi.norm(dim=0, keepdim=True) + 1e-6)
        logits = xr @ phir
        return xr, logits.softmax(dim=1), logits.softmax(dim=2)

    def forward(self, x):
        """logits [B, classes]; all experts as one bmm pair over [n, B, .]."""
        xr, dispatch, combine = self.route(x)
        slots = (dispatch.transpose(1, 2) @ xr).transpose(0, 1)         # [S, B, d]
        hidden = self.torch.relu(self.torch.bmm(slots, self.w1))        # [n, B, h]
        outs = self.torch.bmm(hidden, self.w2)                          # [n, B, d]
        y = combine @ outs.transpose(0, 1)                              # [B, m, d]
        return y.flatten(1) @ self.head.t()

    def forward_top_k(self, x, k):
        """Algorithm 2: keep each input's k experts of highest total combine weight; each kept expert
        runs once, on the inputs that kept it (this sparse variant needs a loop over experts)."""
        torch = self.torch
        B = x.shape[0]
        xr, dispatch, combine = self.route(x)
        top = combine.sum(dim=1).topk(k, dim=1).indices.flatten()        # [B k] expert of each pair
        inputs = torch.arange(B).repeat_interleave(k)
        experts, order = top.sort(stable=True)
        inputs = inputs[order]
        d_sel = dispatch[inputs, :, experts]                             # [P, m]
        c_sel = combine[inputs, :, experts]                              # [P, m]
        slots = torch.bmm(d_sel.unsqueeze(1), xr[inputs]).squeeze(1)     # [P, d]
        outs = torch.empty_like(slots)
        counts = torch.bincount(experts, minlength=self.n).tolist()
        start = 0
        for e, count in enumerate(counts):
            if count:
                end = start + count
                outs[start:end] = torch.relu(slots[start:end] @ self.w1[e]) @ self.w2[e]
                start = end
        y = torch.zeros_like(xr)
        y.index_add_(0, inputs, c_sel.unsqueeze(2) * outs.unsqueeze(1))
        return y.flatten(1) @ self.head.t()


def bench_sgemm(torch, args):
    """torch.mm GFLOP/s on square matrices; one row per size (batch = the size)."""
    for size in (256, 512, 1024):
        a, b = torch.rand(size, size), torch.rand(size, size)
        seconds = timed(lambda: torch.mm(a, b), 0.3, 5, 1000, 3)
        print(row("sgemm", args.impl, args, 0, 0, size, 0, seconds, 2.0 * size ** 3, peak_rss_mb(), samples=0))


def bench_train(torch, args):
    n = args.experts
    h = 784 // n
    model = SoftMoeModel(torch, n, h)
    gen = torch.Generator().manual_seed(1)
    x = torch.randn(args.batch, TOKENS, DIM, generator=gen)
    labels = torch.randint(0, CLASSES, (args.batch,), generator=gen)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3, foreach=True)

    def step():
        optimizer.zero_grad(set_to_none=True)
        loss = torch.nn.functional.cross_entropy(model.forward(x), labels)
        loss.backward()
        optimizer.step()

    reset_peak_rss()
    seconds = timed(step, args.min_seconds, 10, 200, 5)
    flops = 3 * model_flops(n, h, args.batch)
    print(row("train", args.impl, args, n, h, args.batch, n, seconds, flops, peak_rss_mb()), flush=True)


def bench_infer(torch, args):
    n = args.experts
    h = 784 // n
    k = max(1, n // 8)
    model = SoftMoeModel(torch, n, h)
    gen = torch.Generator().manual_seed(2)
    x = torch.randn(args.infer_batch, TOKENS, DIM, generator=gen)
    chunks = [x[i:i + args.chunk] for i in range(0, args.infer_batch, args.chunk)]
    with torch.inference_mode():
        for task, kept, fn in (("infer_all", n, model.forward), ("infer_topk", k, lambda c: model.forward_top_k(c, k))):
            reset_peak_rss()
            seconds = timed(lambda: [fn(c) for c in chunks], args.min_seconds, 3, 20, 1)
            flops = model_flops(n, h, args.infer_batch, kept)
            print(row(task, args.impl, args, n, h, args.infer_batch, kept, seconds, flops, peak_rss_mb()), flush=True)


# The ViT of bench/common.hpp's vit_config(): 28 x 28 images, patch 7, dim 64, depth 4, heads 4, class token,
# Soft MoE (normalisation `router`, p = 1, GELU experts with biases) in blocks 2 and 3, n = 16 experts of
# hidden 64, dense MLPs of width 256 elsewhere; AdamW (weight decay 0.05), label-smoothed cross-entropy.
VIT = dict(rows=28, cols=28, patch=7, dim=64, depth=4, heads=4, mlp=256, moe_layers=(2, 3), experts=16,
           expert_hidden=64, classes=10, weight_decay=0.05)


def vit_flops(samples):
    """bench/common.hpp's vit_flops for VIT."""
    c = VIT
    P = (c["rows"] // c["patch"]) * (c["cols"] // c["patch"])
    L, D, F, S, h = P + 1, c["dim"], c["mlp"], c["experts"], c["expert_hidden"]
    macs = P * c["patch"] ** 2 * D + D * c["classes"]
    for i in range(c["depth"]):
        macs += 4 * L * D * D + 2 * L * L * D
        macs += L * D * S + S * L * D + S * 2 * D * h + L * S * D if i in c["moe_layers"] else 2 * L * D * F
    return 2.0 * samples * macs


def make_vit(torch):
    nn, F = torch.nn, torch.nn.functional
    c = VIT
    D = c["dim"]

    class SoftMoE(nn.Module):
        def __init__(self):
            super().__init__()
            n, h = c["experts"], c["expert_hidden"]
            self.phi = nn.Parameter(torch.randn(D, n) / D ** 0.5)
            self.scale = nn.Parameter(torch.ones(1))
            self.w1 = nn.Parameter((torch.rand(n, D, h) * 2 - 1) / D ** 0.5)
            self.b1 = nn.Parameter((torch.rand(n, 1, h) * 2 - 1) / D ** 0.5)
            self.w2 = nn.Parameter((torch.rand(n, h, D) * 2 - 1) / h ** 0.5)
            self.b2 = nn.Parameter((torch.rand(n, 1, D) * 2 - 1) / h ** 0.5)

        def forward(self, x):  # x [B, L, D]; normalisation `router`: the experts see the raw tokens
            xr = x / (x.norm(dim=-1, keepdim=True) + 1e-6)
            phir = self.scale * self.phi / (self.phi.norm(dim=0, keepdim=True) + 1e-6)
            logits = xr @ phir                                             # [B, L, S]
            dispatch, combine = logits.softmax(dim=1), logits.softmax(dim=2)
            slots = (dispatch.transpose(1, 2) @ x).transpose(0, 1)          # [S, B, D]
            hidden = F.gelu(torch.baddbmm(self.b1, slots, self.w1))         # [n, B, h]
            outs = torch.baddbmm(self.b2, hidden, self.w2)                  # [n, B, D]
            return combine @ outs.transpose(0, 1)                          # [B, L, D]

    class Block(nn.Module):
        def __init__(self, moe):
            super().__init__()
            self.norm1, self.norm2 = nn.LayerNorm(D), nn.LayerNorm(D)
            self.attn = nn.MultiheadAttention(D, c["heads"], batch_first=True)
            self.mlp = SoftMoE() if moe else nn.Sequential(nn.Linear(D, c["mlp"]), nn.GELU(), nn.Linear(c["mlp"], D))

        def forward(self, x):
            h = self.norm1(x)
            x = x + self.attn(h, h, h, need_weights=False)[0]
            return x + self.mlp(self.norm2(x))

    class ViT(nn.Module):
        def __init__(self):
            super().__init__()
            tokens = (c["rows"] // c["patch"]) * (c["cols"] // c["patch"]) + 1
            self.proj = nn.Conv2d(1, D, c["patch"], stride=c["patch"])
            self.cls_token = nn.Parameter(torch.zeros(1, 1, D))
            self.pos_embed = nn.Parameter(0.02 * torch.randn(1, tokens, D))
            self.blocks = nn.ModuleList([Block(i in c["moe_layers"]) for i in range(c["depth"])])
            self.norm = nn.LayerNorm(D)
            self.head = nn.Linear(D, c["classes"])

        def forward(self, images):  # [B, rows, cols] -> [B, classes]
            x = self.proj(images[:, None]).flatten(2).transpose(1, 2)
            x = torch.cat([self.cls_token.expand(images.shape[0], -1, -1), x], dim=1) + self.pos_embed
            for block in self.blocks:
                x = block(x)
            return self.head(self.norm(x)[:, 0])

    return ViT()


def bench_vit(torch, args):
    torch.manual_seed(0)
    model = make_vit(torch)
    gen = torch.Generator().manual_seed(1)
    images = torch.randn(args.vit_batch, VIT["rows"], VIT["cols"], generator=gen)
    labels = torch.randint(0, VIT["classes"], (args.vit_batch,), generator=gen)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=VIT["weight_decay"], foreach=True)

    def step():
        optimizer.zero_grad(set_to_none=True)
        loss = torch.nn.functional.cross_entropy(model(images), labels, label_smoothing=args.label_smoothing)
        loss.backward()
        optimizer.step()

    reset_peak_rss()
    seconds = timed(step, args.min_seconds, 10, 200, 5)
    print(row("train_vit", args.impl, args, VIT["experts"], VIT["expert_hidden"], args.vit_batch, VIT["experts"],
              seconds, 3 * vit_flops(args.vit_batch), peak_rss_mb()), flush=True)


def main():
    args = parse_args()
    env = os.environ.get("OPENBLAS_NUM_THREADS")
    if env != str(args.blas_threads):
        sys.exit(f"torch_peer.py: set OPENBLAS_NUM_THREADS={args.blas_threads} before starting Python "
                 f"(found {env!r}); torch.set_num_threads does not limit OpenBLAS")
    try:
        import torch
    except ImportError:
        sys.exit("torch_peer.py: PyTorch is not installed (Debian: apt-get install python3-torch)")
    torch.set_num_threads(args.torch_threads)
    torch.set_num_interop_threads(1)
    {"train": bench_train, "infer": bench_infer, "sgemm": bench_sgemm, "vit": bench_vit}[args.task](torch, args)


if __name__ == "__main__":
    main()
