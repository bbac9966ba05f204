#!/usr/bin/python3
"""An independent PyTorch training of softmoe's "paper-mnist" model with a sparse (or dense) router layer,
for comparison with `softmoe train --model paper-mnist` and a sparse router.

Usage:
  /usr/bin/python3 tests/reference/train_router_torch.py --router tokens-choice --experts 8 [options]
  /usr/bin/python3 tests/reference/train_router_torch.py --router experts-choice --experts 8 --capacity-factor 2
  /usr/bin/python3 tests/reference/train_router_torch.py --router dense

Options (defaults in brackets):
  --router tokens-choice|experts-choice|dense      the MoE layer's router [tokens-choice]
  --experts N            number of experts (dense: 1, the only value allowed)
  --router-k K           Tokens Choice: experts per token [1]
  --capacity-factor c    Tokens Choice C = ceil(S K c / n); Experts Choice C = max(1, floor(S c / n + 0.5)) [1]
  --group-images G       G consecutive images of a batch form one routing group of S = 4 G tokens; the batch's
                         last group may be partial and is routed with its own capacity [8]
  --bpr                  Tokens Choice: Batch Priority Routing (fill by top-1 gate, descending) [off]
  --router-noise STD     training only: Gaussian noise of std STD / n added to the router logits [1.0]
  --aux-loss importance,load|switch|none   Tokens Choice only [importance,load; none for the others]
  --aux-weight W         weight of the auxiliary loss in the training loss [0.005]
  --epochs E [14]  --seed S [0]  --threads T [1]
  --data DIR             MNIST IDX files (train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz,
                         t10k-images-idx3-ubyte.gz, t10k-labels-idx1-ubyte.gz; .gz optional) [data/mnist]

Model and recipe (softmoe's paper-mnist, src/commands/train_settings.cpp, src/data/paper_mnist.cpp):
pixels / 255 normalised with mean 0.1307 and std 0.3081; four 14x14 patches in row-major patch order (each
row-major inside), 4 tokens of 196; an MoE layer of n bias-free experts Linear(196 -> h) -> ReLU ->
Linear(h -> 196), h = int(784 / n); the 4 outputs flattened to 784 -> Linear(784 -> 10) without bias;
cross-entropy; Adam (lr 1e-3, PyTorch defaults otherwise), batch 256, the training set in file order (no
shuffle), the last partial batch kept. Initialisation: router weight [196, n] normal with std 1/sqrt(196);
expert and head weights as nn.Linear's default (uniform +-1/sqrt(fan_in)). Float32.

The router layer is that of make_router_fixtures.py (the note /work/shared/notes/sparse-routers.md):
logits = x W, noisy = logits + noise (training only), gates = softmax(noisy); Tokens Choice keeps top-K pairs
up to capacity C per expert and group (rank-major filling, position or BPR order), Experts Choice lets each
expert take its top-C tokens of the group; y[s] = sum over kept (s, e) of gates[s, e] expert_e(x[s]) (zero for
a token with no kept pair); the selection carries no gradient. The auxiliary loss (Tokens Choice only) is
computed per group and averaged over the groups of the batch. Here routing is vectorised over the groups;
at start-up it is checked against make_router_fixtures.py's plain loops on random float64 data.

Output (stdout): one CSV line per epoch
  epoch,train_loss,train_accuracy,test_loss,test_accuracy,drop_rate
then `final,<test_accuracy>,<drop_rate>`. train_loss and train_accuracy are those of each batch before its
update (sample-weighted over the epoch); train_loss is the cross-entropy alone, without the weighted
auxiliary loss. test_* come from an evaluation without noise, the test set in batches of 256 in file
order. drop_rate is measured on that evaluation: Tokens Choice, the share of the top-K token-expert pairs
past capacity; Experts Choice, the share of tokens taken by no expert; dense 0. The settings and the CSV
header go to stderr.
"""
import argparse
import gzip
import math
import os
import struct
import sys
import time


def _argv_threads(argv):
    for i, a in enumerate(argv):
        if a == "--threads" and i + 1 < len(argv):
            return argv[i + 1]
        if a.startswith("--threads="):
            return a.split("=", 1)[1]
    return "1"


if __name__ == "__main__":  # Debian's torch calls the system BLAS (OpenBLAS), whose threads ignore set_num_threads
    for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(_var, _argv_threads(sys.argv[1:]))

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
MEAN, STD = 0.1307, 0.3081
SIDE, PATCH, CLASSES = 28, 14, 10
TOKENS, DIM = (SIDE // PATCH) ** 2, PATCH * PATCH


# ---------------------------------------------------------------------------------------------- data
def read_idx(directory, name, magic):
    for path in (os.path.join(directory, name + ".gz"), os.path.join(directory, name)):
        if os.path.exists(path):
            opener = gzip.open if path.endswith(".gz") else open
            with opener(path, "rb") as f:
                data = f.read()
            break
    else:
        sys.exit(f"{directory}: no {name}(.gz)")
    got, = struct.unpack(">I", data[:4])
    if got != magic:
        sys.exit(f"{path}: magic {got:#010x}, expected {magic:#010x}")
    rank = magic & 0xFF
    dims = struct.unpack(">" + "I" * rank, data[4:4 + 4 * rank])
    array = np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * rank)
    if array.size != math.prod(dims):
        sys.exit(f"{path}: {array.size} bytes of data for dimensions {dims}")
    return array.reshape(dims)


def load_split(directory, prefix):
    images = read_idx(directory, f"{prefix}-images-idx3-ubyte", 0x00000803)
    labels = read_idx(directory, f"{prefix}-labels-idx1-ubyte", 0x00000801)
    if images.shape[1:] != (SIDE, SIDE) or images.shape[0] != labels.shape[0] or labels.max() >= CLASSES:
        sys.exit(f"{directory}: unexpected {prefix} files ({images.shape}, {labels.shape})")
    # The per-byte value table as softmoe's patch_tokens computes it, in float32.
    table = (np.arange(256, dtype=np.float32) / np.float32(255) - np.float32(MEAN)) / np.float32(STD)
    x = torch.from_numpy(table[images])  # [N, 28, 28]
    k = SIDE // PATCH
    tokens = x.reshape(-1, k, PATCH, k, PATCH).permute(0, 1, 3, 2, 4).reshape(-1, TOKENS, DIM)
    return tokens.contiguous(), torch.from_numpy(labels.astype(np.int64))


# ---------------------------------------------------------------------------------------------- routing
def tc_capacity(S, K, c, n):
    return math.ceil(S * K * c / n - 1e-9)


def ec_capacity(S, c, n):
    return min(S, max(1, math.floor(S * c / n + 0.5)))


def cv2_rows(v):
    """v [groups, n] -> CV2 of each row: population variance / mean^2."""
    mu = v.mean(dim=1)
    return ((v - mu[:, None]) ** 2).mean(dim=1) / mu**2


def upper_tail(z):
    return 0.5 * torch.erfc(z / math.sqrt(2.0))


def route_chunk(logits, noisy, gates, cfg, S, noise_on):
    """One run of equal groups: tensors [g, S, n] -> (kept [g, S, n] constant, aux [g] or None, stats)."""
    g, _, n = gates.shape
    gd = gates.detach()
    if cfg.router == "tokens-choice":
        K = cfg.router_k
        C = tc_capacity(S, K, cfg.capacity_factor, n)
        choices = torch.sort(gd, dim=2, descending=True, stable=True).indices[:, :, :K]  # [g, S, K]
        if cfg.bpr:
            order = torch.sort(gd.max(dim=2).values, dim=1, descending=True, stable=True).indices  # [g, S]
        else:
            order = torch.arange(S).expand(g, S)
        ordered = choices.gather(1, order[:, :, None].expand(g, S, K))  # tokens in filling order
        onehot = F.one_hot(ordered.transpose(1, 2).reshape(g, K * S), n)  # rank-major: [g, K S, n]
        position = onehot.cumsum(dim=1)  # 1-based place of each pair in its expert's queue
        keep = (onehot * (position <= C)).reshape(g, K, S, n).sum(dim=1).to(gates.dtype)
        kept = torch.zeros_like(gd).scatter_(1, order[:, :, None].expand(g, S, n), keep)
        aux = None
        if cfg.aux_loss == "importance,load":
            aux = cv2_rows(torch.softmax(logits, dim=2).sum(dim=1))
            if noise_on:
                sigma = cfg.noise_std / n
                tau = noisy.gather(2, choices[:, :, K - 1:K])  # K-th largest noisy logit, differentiable
                aux = aux + cv2_rows(upper_tail((tau - logits) / sigma).mean(dim=1))
        elif cfg.aux_loss == "switch":
            f = F.one_hot(choices[:, :, 0], n).to(gates.dtype).mean(dim=1)
            aux = n * (f * gates.mean(dim=1)).sum(dim=1)
        stats = (g * S * K, g * S * K - int(kept.sum().item()))  # (pairs, dropped pairs)
    else:
        C = ec_capacity(S, cfg.capacity_factor, n)
        taken = torch.sort(gd, dim=1, descending=True, stable=True).indices[:, :C, :]  # [g, C, n]
        kept = torch.zeros_like(gd).scatter_(1, taken, 1.0)
        aux = None
        stats = (g * S, int((kept.sum(dim=2) == 0).sum().item()))  # (tokens, tokens taken by nobody)
    return kept, aux, stats


def route(x, W, cfg, noise=None):
    """x [B, m, d], noise [B m, n] (already scaled) or None -> (combine weights gates * kept [B m, n], aux
    scalar, (count, dropped), kept)."""
    B, m, d = x.shape
    n = W.shape[1]
    logits = x.reshape(B * m, d) @ W
    noisy = logits if noise is None else logits + noise
    gates = torch.softmax(noisy, dim=1)
    G = cfg.group_images
    full = B // G
    chunks = [(0, full * G * m, full, G * m)] if full else []
    if B % G:
        chunks.append((full * G * m, B * m, 1, (B % G) * m))
    kept_parts, auxes, count, dropped = [], [], 0, 0
    for lo, hi, groups, S in chunks:
        shape = (groups, S, n)
        kept, aux, (c, dr) = route_chunk(logits[lo:hi].reshape(shape), noisy[lo:hi].reshape(shape),
                                         gates[lo:hi].reshape(shape), cfg, S, noise is not None)
        kept_parts.append(kept.reshape(hi - lo, n))
        if aux is not None:
            auxes.append(aux)
        count, dropped = count + c, dropped + dr
    kept = torch.cat(kept_parts)
    aux = torch.cat(auxes).mean() if auxes else torch.zeros((), dtype=x.dtype)
    return gates * kept, aux, (count, dropped), kept


# ---------------------------------------------------------------------------------------------- model
class Model:
    def __init__(self, cfg):
        n, h = cfg.experts, cfg.hidden
        self.cfg = cfg
        self.W = None
        if cfg.router != "dense":
            self.W = (torch.randn(DIM, n) / math.sqrt(DIM)).requires_grad_(True)
        self.w1 = ((torch.rand(n, DIM, h) * 2 - 1) / math.sqrt(DIM)).requires_grad_(True)
        self.w2 = ((torch.rand(n, h, DIM) * 2 - 1) / math.sqrt(h)).requires_grad_(True)
        fan_in = TOKENS * DIM
        self.head = ((torch.rand(CLASSES, fan_in) * 2 - 1) / math.sqrt(fan_in)).requires_grad_(True)

    def params(self):
        return [p for p in (self.W, self.w1, self.w2, self.head) if p is not None]

    def forward(self, x, train):
        """x [B, 4, 196] -> (logits [B, 10], aux, (count, dropped))."""
        B = x.shape[0]
        n, h = self.cfg.experts, self.cfg.hidden
        X = x.reshape(B * TOKENS, DIM)
        hidden = torch.relu((X @ self.w1.permute(1, 0, 2).reshape(DIM, n * h)).reshape(B * TOKENS, n, h))
        if self.W is None:
            weights, aux, stats = torch.ones(B * TOKENS, 1), torch.zeros(()), (B * TOKENS, 0)
        else:
            noise = None
            if train and self.cfg.noise_std > 0:
                noise = torch.randn(B * TOKENS, n) * (self.cfg.noise_std / n)
            weights, aux, stats, _ = route(x, self.W, self.cfg, noise)
        # sum_e weights[t, e] * (hidden[t, e] @ w2[e]), as one product over the n h hidden units
        y = (hidden * weights[:, :, None]).reshape(B * TOKENS, n * h) @ self.w2.reshape(n * h, DIM)
        return y.reshape(B, TOKENS * DIM) @ self.head.T, aux, stats


# ---------------------------------------------------------------------------------------------- check
def self_check():
    """Vectorised routing == make_router_fixtures.py's plain loops (float64, random data, partial groups)."""
    sys.path.insert(0, HERE)
    import make_router_fixtures as ref

    ref.self_check_test_vectors()
    rng = torch.Generator().manual_seed(12345)
    cases = [dict(router="tokens-choice", router_k=1, capacity_factor=1.0, bpr=False, aux_loss="none"),
             dict(router="tokens-choice", router_k=2, capacity_factor=1.0, bpr=True, aux_loss="importance,load"),
             dict(router="tokens-choice", router_k=2, capacity_factor=1.25, bpr=False, aux_loss="switch"),
             dict(router="tokens-choice", router_k=1, capacity_factor=0.5, bpr=True, aux_loss="importance,load"),
             dict(router="tokens-choice", router_k=3, capacity_factor=0.7, bpr=True, aux_loss="importance,load"),
             dict(router="experts-choice", router_k=1, capacity_factor=1.0, bpr=False, aux_loss="none"),
             dict(router="experts-choice", router_k=1, capacity_factor=2.0, bpr=False, aux_loss="none")]
    dt = torch.float64
    for i, case in enumerate(cases):
        for B, G, with_noise in ((7, 3, True), (7, 3, False), (6, 2, True), (2, 4, True)):
            m, d, n, std = 4, 5, 5, 1.0
            x = torch.randn(B, m, d, dtype=dt, generator=rng) + 0.7 * torch.randn(d, dtype=dt, generator=rng)
            W = torch.randn(d, n, dtype=dt, generator=rng)
            noise = torch.randn(B * m, n, dtype=dt, generator=rng) * (std / n)
            if not with_noise:
                noise = torch.zeros_like(noise)
            cfg = argparse.Namespace(group_images=G, noise_std=std, **case)
            _, aux_mine, stats, kept_mine = route(x, W, cfg, noise if with_noise else None)
            c = dict(case, experts=n, group_images=G, noise=with_noise, noise_std=std, expert_bias=False,
                     activation="relu")
            P = {"router.weight": W, "experts.w1": torch.zeros(n, d, 1, dtype=dt),
                 "experts.w2": torch.zeros(n, 1, 1, dtype=dt)}
            _, aux_ref, kept_ref, _ = ref.router_layer(x, P, noise.reshape(B, m, n), c)
            kept_ref = kept_ref.reshape(-1, n)
            where = f"self-check case {i} (B={B}, G={G}, noise={with_noise})"
            assert torch.equal(kept_mine, kept_ref), where + ": kept differs"
            assert abs(aux_mine.item() - aux_ref.item()) <= 1e-12 * max(1.0, abs(aux_ref.item())), \
                f"{where}: aux {aux_mine.item()} != {aux_ref.item()}"
            if case["router"] == "tokens-choice":
                assert stats == (B * m * case["router_k"], B * m * case["router_k"] - int(kept_ref.sum())), where
            else:
                assert stats == (B * m, int((kept_ref.sum(dim=1) == 0).sum())), where


# ---------------------------------------------------------------------------------------------- main
def parse(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--router", choices=["tokens-choice", "experts-choice", "dense"], default="tokens-choice")
    p.add_argument("--experts", type=int)
    p.add_argument("--router-k", type=int, default=1)
    p.add_argument("--capacity-factor", type=float, default=1.0)
    p.add_argument("--group-images", type=int, default=8)
    p.add_argument("--bpr", action="store_true")
    p.add_argument("--router-noise", dest="noise_std", type=float, default=1.0)
    p.add_argument("--aux-loss", choices=["importance,load", "switch", "none"])
    p.add_argument("--aux-weight", type=float, default=0.005)
    p.add_argument("--epochs", type=int, default=14)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--data", default=os.path.normpath(os.path.join(HERE, "..", "..", "data", "mnist")))
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--batch", type=int, default=256, help=argparse.SUPPRESS)  # the recipe's; for tests only
    cfg = p.parse_args(argv)
    if cfg.router == "dense":
        if cfg.experts not in (None, 1):
            p.error("--router dense: one expert (--experts 1 or nothing)")
        cfg.experts, cfg.noise_std = 1, 0.0
    elif cfg.experts is None or cfg.experts < 1:
        p.error("--experts: give at least 1")
    if cfg.experts > SIDE * SIDE:
        p.error("--experts: int(784 / n) would be 0")
    cfg.hidden = (SIDE * SIDE) // cfg.experts
    if cfg.router == "tokens-choice":
        if not 1 <= cfg.router_k <= cfg.experts:
            p.error(f"--router-k: must be in 1..{cfg.experts}")
        if cfg.aux_loss is None:
            cfg.aux_loss = "importance,load"
    else:
        if cfg.aux_loss not in (None, "none"):
            p.error("--aux-loss: only Tokens Choice has an auxiliary loss")
        cfg.aux_loss = "none"
        if cfg.router_k != 1 or cfg.bpr:
            p.error("--router-k/--bpr: Tokens Choice only")
    if cfg.capacity_factor <= 0 or cfg.group_images < 1 or cfg.noise_std < 0 or cfg.epochs < 1 or cfg.threads < 1:
        p.error("--capacity-factor, --group-images, --router-noise, --epochs, --threads: out of range")
    return cfg


def evaluate(model, x, labels, batch):
    loss, correct, count, dropped = 0.0, 0, 0, 0
    with torch.no_grad():
        for first in range(0, x.shape[0], batch):
            xb, yb = x[first:first + batch], labels[first:first + batch]
            logits, _, (c, d) = model.forward(xb, train=False)
            loss += F.cross_entropy(logits, yb, reduction="sum").item()
            correct += int((logits.argmax(dim=1) == yb).sum().item())
            count, dropped = count + c, dropped + d
    return loss / x.shape[0], correct / x.shape[0], dropped / count


def main(argv):
    cfg = parse(argv)
    torch.set_num_threads(cfg.threads)
    torch.set_num_interop_threads(1)
    self_check()
    train_x, train_y = load_split(cfg.data, "train")
    test_x, test_y = load_split(cfg.data, "t10k")
    torch.manual_seed(cfg.seed)
    model = Model(cfg)
    optimizer = torch.optim.Adam(model.params(), lr=1e-3)
    print("settings: " + " ".join(f"{k}={v}" for k, v in sorted(vars(cfg).items())), file=sys.stderr)
    print("epoch,train_loss,train_accuracy,test_loss,test_accuracy,drop_rate", file=sys.stderr)
    for epoch in range(1, cfg.epochs + 1):
        start = time.time()
        loss_sum, correct = 0.0, 0
        for first in range(0, train_x.shape[0], cfg.batch):
            xb, yb = train_x[first:first + cfg.batch], train_y[first:first + cfg.batch]
            logits, aux, _ = model.forward(xb, train=True)
            ce = F.cross_entropy(logits, yb)
            loss = ce + cfg.aux_weight * aux if cfg.aux_loss != "none" else ce
            if not math.isfinite(loss.item()):
                sys.exit(f"training diverged at epoch {epoch}, example {first}")
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            loss_sum += ce.item() * xb.shape[0]
            correct += int((logits.argmax(dim=1) == yb).sum().item())
        train_seconds = time.time() - start
        test_loss, test_acc, drop = evaluate(model, test_x, test_y, 256)
        n = train_x.shape[0]
        print(f"{epoch},{loss_sum / n:.6f},{correct / n:.6f},{test_loss:.6f},{test_acc:.6f},{drop:.6f}", flush=True)
        print(f"epoch {epoch}: {train_seconds:.1f} s training, {time.time() - start - train_seconds:.1f} s test",
              file=sys.stderr)
    print(f"final,{test_acc:.6f},{drop:.6f}", flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
