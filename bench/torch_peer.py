#!/usr/bin/python3
"""The PyTorch peer of softmoe's benchmark: the paper's MNIST Soft MoE model written the way a user
who cares about speed writes it (every expert batched in one bmm, einsum-free dispatch and combine as
batched matmuls, no Python loop over experts in the dense model), timed like bench/bench_train and
bench/bench_infer, and printed as CSV rows of bench/common.hpp's schema (no header).

  torch_peer.py --task train --experts 8 --blas-threads 1 --torch-threads 1
  torch_peer.py --task infer --experts 128 ...      (all-expert and top-k inference rows)
  torch_peer.py --task sgemm ...                    (torch.mm GFLOP/s: proves the BLAS is not crippled)
  torch_peer.py --task vit ...                      (one training step of the Soft MoE ViT, bench_vit's model)
  torch_peer.py --task router --router tokens-choice --experts 32 --router-k 1 --capacity-factor 1.25 --bpr ...
                                                    (one training step with a sparse router, bench_router's model)
  torch_peer.py --task router-check ...             (the router peer against tests/reference/train_router_torch.py)

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
HERE = os.path.dirname(os.path.abspath(__file__))


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--task", choices=["train", "infer", "sgemm", "vit", "router", "router-check"], required=True)
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
    p.add_argument("--router", choices=["tokens-choice", "experts-choice"], default="tokens-choice")
    p.add_argument("--router-k", type=int, default=1)
    p.add_argument("--capacity-factor", type=float, default=1.0)
    p.add_argument("--group-images", type=int, default=8)
    p.add_argument("--bpr", action="store_true")
    p.add_argument("--dispatch", choices=["gather", "einsum"], default="gather",
                   help="router task: how tokens reach the expert buffers (RouterModel's docstring)")
    args = p.parse_args()
    if args.task.startswith("router"):
        tc = args.router == "tokens-choice"
        if not tc and (args.router_k != 1 or args.bpr):
            p.error("--router-k/--bpr: Tokens Choice only")
        if not 1 <= args.experts <= TOKENS * DIM or (tc and not 1 <= args.router_k <= args.experts):
            p.error("--experts in 1..784, --router-k in 1..n")
        if args.capacity_factor <= 0 or args.group_images < 1 or args.batch % args.group_images:
            p.error("--capacity-factor > 0, --group-images >= 1 dividing --batch (no partial group here)")
        if not tc and math.floor(TOKENS * args.group_images * args.capacity_factor / args.experts + 0.5) < 1:
            p.error(f"--group-images {args.group_images}: Experts Choice capacity rounds to 0")
    return args


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


# ---------------------------------------------------------------------------------------------- sparse routers
# bench_router's model: the paper's MNIST model with a Tokens Choice or Experts Choice layer in place of the
# Soft MoE (include/softmoe/layers/sparse_moe.hpp, /work/shared/notes/sparse-routers.md): per group of G
# consecutive images (S = 4 G tokens) logits = x W (no bias), training noise N(0, (1/n)^2), gates =
# softmax(noisy); bias-free ReLU experts 196 -> int(784 / n) -> 196; head 784 -> 10 without bias; the
# Tokens Choice auxiliary loss importance + load (per group, mean over groups) at weight 0.005.
NOISE_STD, AUX_WEIGHT = 1.0, 0.005


def router_capacity(tokens_choice, k, c, n, S):
    """bench/measure.hpp's router_capacity (the engine's sparse_capacity)."""
    if tokens_choice:
        return math.ceil(S * k * c / n - 1e-9)
    return min(S, max(1, math.floor(S * c / n + 0.5)))


def router_task(args):
    """bench/measure.hpp's router_task."""
    if args.router == "tokens-choice":
        task = f"router-tc-k{args.router_k}-c{args.capacity_factor:g}" + ("-bpr" if args.bpr else "")
    else:
        task = f"router-ec-c{args.capacity_factor:g}"
    return task + (f"-g{args.group_images}" if args.group_images != 8 else "")


def router_flops(args, n, h, samples):
    """bench/measure.hpp's router_model_flops: router and head per input, both expert layers per nominal
    token-expert pair (Tokens Choice min(S K, n C) per group, Experts Choice n C); dispatch and combine 0."""
    tc = args.router == "tokens-choice"
    pairs = 0
    for first in range(0, samples, args.group_images):
        S = TOKENS * min(args.group_images, samples - first)
        C = router_capacity(tc, args.router_k, args.capacity_factor, n, S)
        pairs += min(S * args.router_k, n * C) if tc else n * C
    return samples * (2.0 * TOKENS * DIM * n + 2.0 * TOKENS * DIM * CLASSES) + pairs * 4.0 * DIM * h


class RouterModel:
    """The router peer, written as MoE code does it (GShard / vmoe): routing vectorised over the groups,
    every expert's fixed-capacity buffer [n, groups * C] filled from top-k plus a running count of the
    pairs in rank-major order, all n experts as one bmm pair.

    Dispatch (--dispatch):
      gather  the buffers hold token indices: expert inputs are one index_select of the tokens (plus a zero
              row for empty slots and dropped pairs), the combine one index_add of the gated expert outputs.
              O(n g C d) data movement; the default: faster than einsum in every bench configuration
              (one-thread runs at n = 8, 32, 128, Tokens Choice K = 1 c = 1.25 BPR and Experts Choice
              c = 1: 5 to 30% less time per step, on a busy machine).
      einsum  vmoe's one-hot dispatch tensor [g, S, n, C]: expert inputs einsum('gsec,gsd->egcd'), combine
              einsum('gsec,egcd->gsd'), the slot gates einsum('gsec,gse->egc'); O(g S n C d)
              multiply-adds, more than the expert work itself once S outgrows 2 h (n = 32 and up).
    Both scale each slot's hidden activations by its gate before the second expert layer (the same as
    scaling its output, the layer being linear, and h wide instead of d), so that combine is a constant
    scatter (or einsum) whose backward is one gather. Gradients reach the gates of the kept pairs (and, for
    the auxiliary loss, the logits), never the selection, as in softmoe and train_router_torch.py."""

    def __init__(self, torch, args, seed=0, weights=None):
        self.torch, self.F = torch, torch.nn.functional
        self.n = n = args.experts
        self.h = h = (TOKENS * DIM) // n
        self.tc = args.router == "tokens-choice"
        self.k, self.c, self.G, self.bpr = args.router_k, args.capacity_factor, args.group_images, args.bpr
        self.dispatch = args.dispatch
        if weights is None:
            g = torch.Generator().manual_seed(seed)
            self.W = torch.randn(DIM, n, generator=g) / math.sqrt(DIM)
            self.w1 = (torch.rand(n, DIM, h, generator=g) * 2 - 1) / math.sqrt(DIM)
            self.w2 = (torch.rand(n, h, DIM, generator=g) * 2 - 1) / math.sqrt(h)
            fan_in = TOKENS * DIM
            self.head = (torch.rand(CLASSES, fan_in, generator=g) * 2 - 1) / math.sqrt(fan_in)
        else:
            self.W, self.w1, self.w2, self.head = (w.detach().clone() for w in weights)
        for p in self.parameters():
            p.requires_grad_()

    def parameters(self):
        return [self.W, self.w1, self.w2, self.head]

    def slots(self, gates, groups, S):
        """gates [T, n] (T = groups S) -> (pair [n, groups C] index into gates.flatten() of the pair in each
        slot, T n for an empty slot; C; the top-K expert indices [groups, S, K] for Tokens Choice)."""
        torch, n = self.torch, self.n
        C = router_capacity(self.tc, self.k, self.c, n, S)
        g3 = gates.detach().view(groups, S, n)
        first = (torch.arange(groups) * S).view(groups, 1, 1)  # first token of each group
        if not self.tc:  # each expert's top C tokens of its group
            taken = g3.topk(C, dim=1).indices                                  # [g, C, n]
            e = torch.arange(n).view(1, 1, n)
            return ((first + taken) * n + e).permute(2, 0, 1).reshape(n, groups * C), C, None
        K = self.k
        choice = g3.topk(K, dim=2).indices                                     # [g, S, K], best first
        if self.bpr:  # tokens by top-1 gate, descending (ties by position, as softmoe and vmoe)
            order = torch.sort(g3.max(dim=2).values, dim=1, descending=True, stable=True).indices
            choice_ordered = choice.gather(1, order.unsqueeze(2).expand(groups, S, K))
            token = first.view(groups, 1) + order                              # [g, S]
        else:
            choice_ordered = choice
            token = first.view(groups, 1) + torch.arange(S).view(1, S)
        expert = choice_ordered.transpose(1, 2).reshape(groups, K * S)        # rank-major offer order
        onehot = self.F.one_hot(expert, n)                                     # [g, K S, n]
        position = (onehot.cumsum(dim=1) * onehot).sum(dim=2) - 1             # place in the expert's buffer
        token = token.repeat(1, K)                                             # [g, K S], rank-major
        slot = expert * (groups * C) + torch.arange(groups).view(groups, 1) * C + position
        slot = torch.where(position < C, slot, n * groups * C)                 # dropped: the dump slot
        pair = torch.full((n * groups * C + 1,), gates.shape[0] * n, dtype=torch.long)
        pair.scatter_(0, slot.flatten(), (token * n + expert).flatten())
        return pair[:-1].view(n, groups * C), C, choice

    def forward(self, x, noise=None):
        """x [B, m, d], noise [B m, n] already scaled or None -> (logits [B, classes], auxiliary loss)."""
        torch, F, n = self.torch, self.F, self.n
        B = x.shape[0]
        T, S, groups = B * TOKENS, self.G * TOKENS, B // self.G
        X = x.reshape(T, DIM)
        logits = X @ self.W
        noisy = logits if noise is None else logits + noise
        gates = noisy.softmax(dim=1)
        pair, C, choice = self.slots(gates, groups, S)
        if self.dispatch == "gather":
            token = pair // n                                                  # T: the zero row
            xin = torch.cat([X, X.new_zeros(1, DIM)]).index_select(0, token.flatten()).view(n, groups * C, DIM)
            gate = torch.cat([gates.flatten(), gates.new_zeros(1)]).index_select(0, pair.flatten())
            out = torch.bmm(torch.relu(torch.bmm(xin, self.w1)) * gate.view(n, groups * C, 1), self.w2)
            y = torch.zeros(T + 1, DIM).index_add(0, token.flatten(), out.view(-1, DIM))[:T]
        else:
            # one-hot [g, S, n, C]: slot (e, group, c) of pair p = s n + e of its group
            grp = torch.arange(groups).view(1, groups, 1)
            c = torch.arange(C).view(1, 1, C)
            p = pair.view(n, groups, C)
            index = ((p - grp * S * n) * C + c).permute(1, 0, 2).reshape(groups, n * C)  # s n C + e C + c
            filled = (p < T * n).permute(1, 0, 2).reshape(groups, n * C)
            index = torch.where(filled, index, S * n * C)                       # empty slots: the dump column
            dispatch = torch.zeros(groups, S * n * C + 1).scatter_(1, index, 1.0)[:, :-1].view(groups, S, n, C)
            gate = torch.einsum("gsec,gse->egc", dispatch, gates.view(groups, S, n)).reshape(n, groups * C, 1)
            xin = torch.einsum("gsec,gsd->egcd", dispatch, X.view(groups, S, DIM)).reshape(n, groups * C, DIM)
            out = torch.bmm(torch.relu(torch.bmm(xin, self.w1)) * gate, self.w2)
            y = torch.einsum("gsec,egcd->gsd", dispatch, out.view(n, groups, C, DIM)).reshape(T, DIM)
        aux = None
        if self.tc:  # importance + load (with noise), per group, mean over groups
            def cv2(v):
                mu = v.mean(dim=1)
                return ((v - mu.unsqueeze(1)) ** 2).mean(dim=1) / mu ** 2
            clean = logits.softmax(dim=1) if noise is not None else gates
            aux = cv2(clean.view(groups, S, n).sum(dim=1))
            if noise is not None:
                sigma = NOISE_STD / n
                l3 = logits.view(groups, S, n)
                tau = noisy.view(groups, S, n).gather(2, choice[:, :, self.k - 1:self.k])  # K-th largest noisy logit
                load = (0.5 * torch.erfc((tau - l3) / (sigma * math.sqrt(2.0)))).mean(dim=1)
                aux = aux + cv2(load)
            aux = aux.mean()
        return y.view(B, TOKENS * DIM) @ self.head.t(), aux


def router_loss(torch, model, x, labels, noise):
    logits, aux = model.forward(x, noise)
    loss = torch.nn.functional.cross_entropy(logits, labels)
    return (loss + AUX_WEIGHT * aux if aux is not None else loss), logits


def check_router(torch, args, batch=None, seed=3):
    """The peer against tests/reference/train_router_torch.py (its Model.forward, every expert on every token
    and a mask), same weights and inputs, noise off and on (the same torch.randn draw): returns the largest
    absolute differences (logits, loss, and each parameter's gradient relative to its largest entry)."""
    sys.path.insert(0, os.path.join(HERE, "..", "tests", "reference"))
    try:
        import train_router_torch as ref
    except ImportError as e:
        sys.exit(f"torch_peer.py: cannot check the router peer: tests/reference/train_router_torch.py ({e})")
    n = args.experts
    cfg = argparse.Namespace(router=args.router, experts=n, hidden=(TOKENS * DIM) // n, router_k=args.router_k,
                             capacity_factor=args.capacity_factor, group_images=args.group_images, bpr=args.bpr,
                             noise_std=NOISE_STD, aux_loss="importance,load" if args.router == "tokens-choice" else "none")
    B = batch or 4 * args.group_images
    torch.manual_seed(seed)
    reference = ref.Model(cfg)
    mine = RouterModel(torch, args, weights=reference.params())
    gen = torch.Generator().manual_seed(seed + 1)
    x = torch.randn(B, TOKENS, DIM, generator=gen)
    labels = torch.randint(0, CLASSES, (B,), generator=gen)
    worst = {}
    for noise_on in (False, True):
        torch.manual_seed(seed + 2)
        theirs, aux, _ = reference.forward(x, train=noise_on)  # draws torch.randn(B m, n) * (1 / n) when on
        loss_ref = torch.nn.functional.cross_entropy(theirs, labels)
        if cfg.aux_loss != "none":
            loss_ref = loss_ref + AUX_WEIGHT * aux
        grads_ref = torch.autograd.grad(loss_ref, reference.params())
        torch.manual_seed(seed + 2)
        noise = torch.randn(B * TOKENS, n) * (NOISE_STD / n) if noise_on else None
        loss, ours = router_loss(torch, mine, x, labels, noise)
        grads = torch.autograd.grad(loss, mine.parameters())
        tag = "noise" if noise_on else "clean"
        worst[f"logits {tag}"] = (ours - theirs).abs().max().item()
        worst[f"loss {tag}"] = abs(loss.item() - loss_ref.item())
        worst[f"grads {tag}"] = max(((a - b).abs().max() / b.abs().max().clamp_min(1e-30)).item()
                                    for a, b in zip(grads, grads_ref))
    return worst


def check_ok(worst):
    return all(v <= 1e-5 for v in worst.values())


def bench_router(torch, args):
    worst = check_router(torch, args)
    summary = ", ".join(f"{k} {v:.1e}" for k, v in worst.items())
    if not check_ok(worst):
        sys.exit(f"torch_peer.py: the router peer disagrees with train_router_torch.py ({summary})")
    print(f"router peer == train_router_torch.py ({router_task(args)}, n={args.experts}, {args.dispatch}): {summary}",
          file=sys.stderr)
    model = RouterModel(torch, args)
    n, h = model.n, model.h
    gen = torch.Generator().manual_seed(1)
    x = torch.randn(args.batch, TOKENS, DIM, generator=gen)
    labels = torch.randint(0, CLASSES, (args.batch,), generator=gen)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3, foreach=True)

    def step():
        optimizer.zero_grad(set_to_none=True)
        noise = torch.randn(args.batch * TOKENS, n) * (NOISE_STD / n)  # training noise, every step
        loss, _ = router_loss(torch, model, x, labels, noise)
        loss.backward()
        optimizer.step()

    reset_peak_rss()
    seconds = timed(step, args.min_seconds, 10, 200, 5)
    k = args.router_k if model.tc else 0
    print(row(router_task(args), args.impl, args, n, h, args.batch, k, seconds, 3 * router_flops(args, n, h, args.batch),
              peak_rss_mb()), flush=True)


def bench_router_check(torch, args):
    """A grid of router settings, both dispatch formulations, against the plain reference: one line each."""
    failed = 0
    grid = [("tokens-choice", k, c, bpr, G, n) for n in (4, 8, 32, 128) for k in (1, 2) for c in (0.5, 1.25)
            for bpr in (False, True) for G in (1, 8) if k <= n]
    grid += [("experts-choice", 1, c, False, G, n) for n in (4, 8, 32, 128) for c in (0.5, 1, 2) for G in (8, 16, 32)
             if math.floor(4 * G * c / n + 0.5) >= 1]
    for router, k, c, bpr, G, n in grid:
        for dispatch in ("gather", "einsum"):
            case = argparse.Namespace(**dict(vars(args), router=router, router_k=k, capacity_factor=c, bpr=bpr,
                                             group_images=G, experts=n, dispatch=dispatch))
            worst = check_router(torch, case, batch=3 * G)
            failed += not check_ok(worst)
            print(f"{router_task(case)} n={n} {dispatch}: " + ", ".join(f"{k} {v:.1e}" for k, v in worst.items())
                  + ("" if check_ok(worst) else "  FAILED"), flush=True)
    print(f"{len(grid) * 2} checks, {failed} failed")
    if failed:
        sys.exit(1)


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
    {"train": bench_train, "infer": bench_infer, "sgemm": bench_sgemm, "vit": bench_vit, "router": bench_router,
     "router-check": bench_router_check}[args.task](torch, args)


if __name__ == "__main__":
    main()
