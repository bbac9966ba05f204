#!/usr/bin/python3
"""Reference fixtures for the sparse routers (Tokens Choice, Experts Choice) and a dense one-expert layer,
computed independently in PyTorch (float64), from /work/shared/notes/sparse-routers.md.

Usage: /usr/bin/python3 tests/reference/make_router_fixtures.py [OUTPUT_DIR]   (default: tests/reference/fixtures)

Writes router_<name>.safetensors with make_fixtures.py's hand-written safetensors writer (F64 tensors,
string metadata, softmoe.crc32). Output is deterministic: regenerating gives byte-identical files.

Metadata: kind="router", router ("tokens-choice" | "experts-choice" | "dense"), tokens (m), dim (d),
experts (n), hidden (h), dim_out, expert_bias ("1"/"0"), activation ("relu" | "gelu", exact erf GELU),
router_k (K), capacity_factor (c, repr), group_images (G), bpr ("1"/"0"), aux_loss ("importance,load" |
"switch" | "none"), aux_weight (repr), noise ("1"/"0"), noise_std (repr; "0.0" when noise = "0"), batch (B).

Tensors, in file order: x [B, m, d]; router.weight [d, n] (not for dense); experts.w1 [n, d, h];
experts.b1 [n, h] (bias only); experts.w2 [n, h, d_out]; experts.b2 [n, d_out] (bias only);
noise [B, m, n] (already scaled: std noise_std / n; zeros when noise = "0"; not for dense);
dy [B, m, d_out]; out.y [B, m, d_out]; out.aux [1] (UNweighted auxiliary loss, 0 when none);
out.kept [B, m, n] (1 where the (token, expert) pair was kept); grad.x; grad.router.weight (not for
dense); grad.experts.w1, grad.experts.b1 (bias), grad.experts.w2, grad.experts.b2 (bias): torch autograd
gradients of L = sum(y * dy) + aux_weight * aux.

Semantics (the note's, written plainly; speed is no concern here):
- The B*m tokens are flattened example-major; G consecutive examples form a group of S = G*m tokens (the
  last group may be partial, S = G'*m) routed on its own with its own capacity.
- logits = x W; noisy = logits + noise; gates = softmax(noisy) over experts. Dense: n = 1, gate 1, all kept.
- Tokens Choice: top-K experts per token by gate (ties: lower expert index). C = ceil(S K c / n), computed
  as math.ceil(S K c / n - 1e-9). Filling is rank-major; within a rank, token position, or with BPR the
  tokens by their top-1 gate descending (stable). A pair is kept while its expert holds fewer than C pairs.
- Experts Choice: C = min(S, max(1, floor(S c / n + 0.5))); each expert takes the C tokens of the group with
  the largest gate for it (ties: lower position).
- y[s] = sum over kept (s, e) of gates[s, e] expert_e(x[s]); expert_e(v) = act(v w1[e] + b1[e]) w2[e] + b2[e].
  Gradients flow through the kept gates (and the softmax), never through the selection.
- Auxiliary loss (Tokens Choice only), per group, then the mean over groups; CV2(v) = var(v) / mean(v)^2
  (population variance, no epsilon):
  importance,load: CV2(Imp), Imp_e = sum_s softmax(clean logits)[s, e]; with noise also CV2(Load),
    Load_e = mean_s (1 - Phi((tau_s - logits[s, e]) / sigma)), sigma = noise_std / n, tau_s the K-th largest
    noisy logit of token s (gathered, so differentiable);
  switch: n sum_e f_e P_e, f_e the (constant) share of tokens whose top-1 expert is e, P_e the mean gate.

The script first checks the note's test vectors (vanilla/BPR Tokens Choice, Experts Choice) and a
finite-difference gradient check of the layer; it refuses data with near-ties (gaps <= 1e-6 between gates
that decide a selection, or ReLU inputs within 1e-6 of 0) and retries with another seed offset.
"""
import math
import os
import sys

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_fixtures import write_safetensors  # noqa: E402

DT = torch.float64
TIE_GAP = 1e-6


# ---------------------------------------------------------------------------------------------- selection
def tc_capacity(S, K, c, n):
    return math.ceil(S * K * c / n - 1e-9)


def ec_capacity(S, c, n):
    return min(S, max(1, math.floor(S * c / n + 0.5)))


def top_experts(gates, K):
    """gates [S, n] -> per token the list of its K experts, gate descending, ties by lower index."""
    S, n = gates.shape
    g = gates.tolist()
    return [sorted(range(n), key=lambda e: (-g[s][e], e))[:K] for s in range(S)]


def tokens_choice_keep(gates, K, C, bpr):
    """gates [S, n] of one group -> (kept [S, n] 0/1, choices per token). Plain sequential filling."""
    S, n = gates.shape
    g = gates.tolist()
    choices = top_experts(gates, K)
    order = list(range(S))
    if bpr:
        order.sort(key=lambda s: -g[s][choices[s][0]])  # list.sort is stable: ties keep position order
    taken = [0] * n
    kept = torch.zeros(S, n, dtype=DT)
    for r in range(K):
        for s in order:
            e = choices[s][r]
            if taken[e] < C:
                kept[s, e] = 1.0
                taken[e] += 1
    return kept, choices


def experts_choice_keep(gates, C):
    """gates [S, n] of one group -> kept [S, n] 0/1: each expert its C tokens of largest gate."""
    S, n = gates.shape
    g = gates.tolist()
    kept = torch.zeros(S, n, dtype=DT)
    for e in range(n):
        for s in sorted(range(S), key=lambda s: (-g[s][e], s))[:C]:
            kept[s, e] = 1.0
    return kept


def kept_lists(kept):
    return [[e for e in range(kept.shape[1]) if kept[s, e] > 0] for s in range(kept.shape[0])]


def self_check_test_vectors():
    gates = torch.tensor([[.4, 0, .2], [.5, .1, .4], [.3, .2, .6]], dtype=DT)
    vanilla, _ = tokens_choice_keep(gates, K=2, C=2, bpr=False)
    bpr, _ = tokens_choice_keep(gates, K=2, C=2, bpr=True)
    assert kept_lists(vanilla) == [[0, 2], [0], [2]], kept_lists(vanilla)
    assert kept_lists(bpr) == [[0], [0, 2], [2]], kept_lists(bpr)
    ec = experts_choice_keep(gates, C=2)
    taken = [[s for s in range(3) if ec[s, e] > 0] for e in range(3)]
    assert taken == [[0, 1], [1, 2], [1, 2]], taken  # e0: t1, t0; e1: t2, t1; e2: t2, t1
    return {"vanilla": kept_lists(vanilla), "bpr": kept_lists(bpr), "experts_choice": taken}


# ---------------------------------------------------------------------------------------------- the layer
def cv2(v):
    mu = v.mean()
    return ((v - mu) ** 2).mean() / mu**2


def upper_tail(z):
    """1 - Phi(z), standard normal."""
    return 0.5 * torch.erfc(z / math.sqrt(2.0))


def group_ranges(B, m, G):
    return [(b * m, min(b + G, B) * m) for b in range(0, B, G)]


def experts_all(X, P, c):
    """X [T, d] -> every expert on every token [T, n, d_out]."""
    h = torch.einsum("td,ndh->tnh", X, P["experts.w1"])
    if c["expert_bias"]:
        h = h + P["experts.b1"][None]
    h = torch.relu(h) if c["activation"] == "relu" else F.gelu(h)
    y = torch.einsum("tnh,nho->tno", h, P["experts.w2"])
    if c["expert_bias"]:
        y = y + P["experts.b2"][None]
    return y


def group_aux(logits, noisy, gates, choices, c):
    n, K = c["experts"], c["router_k"]
    if c["aux_loss"] == "importance,load":
        aux = cv2(torch.softmax(logits, dim=1).sum(0))
        if c["noise"]:
            sigma = c["noise_std"] / n
            kth = torch.tensor([ch[K - 1] for ch in choices], dtype=torch.long)
            tau = noisy.gather(1, kth[:, None])  # [S, 1], differentiable
            aux = aux + cv2(upper_tail((tau - logits) / sigma).mean(0))
        return aux
    if c["aux_loss"] == "switch":
        top1 = torch.tensor([ch[0] for ch in choices], dtype=torch.long)
        f = F.one_hot(top1, n).to(DT).mean(0)  # constant
        return n * (f * gates.mean(0)).sum()
    return None


def router_layer(x, P, noise, c):
    """x [B, m, d] -> (y [B, m, d_out], aux scalar, kept [B, m, n], details)."""
    B, m, d = x.shape
    n, T = c["experts"], B * m
    X = x.reshape(T, d)
    E = experts_all(X, P, c)
    if c["router"] == "dense":
        kept = torch.ones(T, 1, dtype=DT)
        return E[:, 0].reshape(B, m, -1), torch.zeros((), dtype=DT), kept.reshape(B, m, 1), {"groups": []}
    logits = X @ P["router.weight"]
    noisy = logits + noise.reshape(T, n)
    gates = torch.softmax(noisy, dim=1)
    kept = torch.zeros(T, n, dtype=DT)
    auxes, groups = [], []
    for lo, hi in group_ranges(B, m, c["group_images"]):
        S, g = hi - lo, gates[lo:hi].detach()
        if c["router"] == "tokens-choice":
            C = tc_capacity(S, c["router_k"], c["capacity_factor"], n)
            k, choices = tokens_choice_keep(g, c["router_k"], C, c["bpr"])
            a = group_aux(logits[lo:hi], noisy[lo:hi], gates[lo:hi], choices, c)
            if a is not None:
                auxes.append(a)
        else:
            C = ec_capacity(S, c["capacity_factor"], n)
            k = experts_choice_keep(g, C)
        kept[lo:hi] = k
        groups.append({"S": S, "C": C, "kept": int(k.sum().item())})
    y = ((gates * kept)[:, :, None] * E).sum(1).reshape(B, m, -1)
    aux = torch.stack(auxes).mean() if auxes else torch.zeros((), dtype=DT)
    return y, aux, kept.reshape(B, m, n), {"groups": groups, "gates": gates.detach()}


# ---------------------------------------------------------------------------------------------- checks
def min_gap(values):
    v = sorted(values)
    return min((b - a for a, b in zip(v, v[1:])), default=math.inf)


def tie_gap(x, P, noise, c):
    """The smallest gap between two gates whose order decides a selection, and the smallest |ReLU input|."""
    gap = math.inf
    if c["router"] != "dense":
        B, m, d = x.shape
        n = c["experts"]
        gates = torch.softmax(x.reshape(-1, d) @ P["router.weight"] + noise.reshape(-1, n), dim=1)
        for lo, hi in group_ranges(B, m, c["group_images"]):
            g = gates[lo:hi]
            for s in range(hi - lo):  # experts of one token (top-K, top-1)
                gap = min(gap, min_gap(g[s].tolist()))
            for e in range(n):  # tokens of one expert (Experts Choice)
                gap = min(gap, min_gap(g[:, e].tolist()))
            gap = min(gap, min_gap(g.max(dim=1).values.tolist()))  # BPR order
    pre = math.inf
    if c["activation"] == "relu":
        h = torch.einsum("td,ndh->tnh", x.reshape(-1, x.shape[2]), P["experts.w1"])
        if c["expert_bias"]:
            h = h + P["experts.b1"][None]
        pre = h.abs().min().item()
    return gap, pre


def uniform(shape, bound):
    return (torch.rand(shape, dtype=DT) * 2 - 1) * bound


def draw(c, B, seed):
    """Inputs and parameters (registration order) for one fixture."""
    torch.manual_seed(seed)
    m, d, n, h, o = c["tokens"], c["dim"], c["experts"], c["hidden"], c["dim_out"]
    x = torch.randn(B, m, d, dtype=DT) + c.get("x_shift", 0.0) * torch.randn(d, dtype=DT)
    P = {}
    if c["router"] != "dense":
        P["router.weight"] = torch.randn(d, n, dtype=DT) * c.get("router_scale", 0.6)
    P["experts.w1"] = uniform((n, d, h), d**-0.5)
    if c["expert_bias"]:
        P["experts.b1"] = uniform((n, h), d**-0.5)
    P["experts.w2"] = uniform((n, h, o), h**-0.5)
    if c["expert_bias"]:
        P["experts.b2"] = uniform((n, o), h**-0.5)
    noise = torch.randn(B, m, n, dtype=DT) * (c["noise_std"] / n)
    if not c["noise"]:
        noise = torch.zeros_like(noise)
    dy = torch.randn(B, m, o, dtype=DT)
    return x, P, noise, dy


def metadata(c, B):
    return {
        "kind": "router", "router": c["router"], "tokens": str(c["tokens"]), "dim": str(c["dim"]),
        "experts": str(c["experts"]), "hidden": str(c["hidden"]), "dim_out": str(c["dim_out"]),
        "expert_bias": "1" if c["expert_bias"] else "0", "activation": c["activation"],
        "router_k": str(c["router_k"]), "capacity_factor": repr(float(c["capacity_factor"])),
        "group_images": str(c["group_images"]), "bpr": "1" if c["bpr"] else "0", "aux_loss": c["aux_loss"],
        "aux_weight": repr(float(c["aux_weight"])), "noise": "1" if c["noise"] else "0",
        "noise_std": repr(float(c["noise_std"])) if c["noise"] else "0.0", "batch": str(B),
    }


def gradient_check(x, P, noise, c):
    """Finite differences of L against autograd (selection frozen by the gap check)."""
    names = list(P)

    def loss(xv, *pv):
        y, aux, _, _ = router_layer(xv, dict(zip(names, pv)), noise, c)
        return (y * dy_fixed).sum() + c["aux_weight"] * aux

    dy_fixed = torch.randn(*x.shape[:2], c["dim_out"], dtype=DT, generator=torch.Generator().manual_seed(99))
    inputs = [x.clone().requires_grad_(True)] + [P[k].clone().requires_grad_(True) for k in names]
    return torch.autograd.gradcheck(loss, inputs, eps=1e-7, atol=1e-6, rtol=1e-5)


def router_case(out_dir, name, seed, requirement=None, B=5, **c):
    """requirement(details) -> bool: extra condition on the routing (e.g. some pairs dropped)."""
    for attempt in range(100):
        x, P, noise, dy = draw(c, B, seed + 1000 * attempt)
        gap, pre = tie_gap(x, P, noise, c)
        if gap <= TIE_GAP or pre <= TIE_GAP:
            continue
        with torch.no_grad():
            _, _, kept, details = router_layer(x, P, noise, c)
        if requirement is None or requirement(c, B, kept, details):
            break
    else:
        sys.exit(f"{name}: no seed offset met the conditions")
    assert gradient_check(x, P, noise, c), name
    P = {k: v.clone().requires_grad_(True) for k, v in P.items()}
    xg = x.clone().requires_grad_(True)
    y, aux, kept, details = router_layer(xg, P, noise, c)
    L = (y * dy).sum() + c["aux_weight"] * aux
    L.backward()
    tensors = [("x", x)] + [(k, v) for k, v in P.items() if k == "router.weight"]
    tensors += [(k, v) for k, v in P.items() if k.startswith("experts.")]
    if c["router"] != "dense":
        tensors.append(("noise", noise))
    tensors += [("dy", dy), ("out.y", y), ("out.aux", aux.reshape(1)), ("out.kept", kept), ("grad.x", xg.grad)]
    tensors += [("grad." + k, v.grad) for k, v in P.items()]
    write_safetensors(os.path.join(out_dir, f"router_{name}.safetensors"), tensors, metadata(c, B))
    return summary(name, c, B, kept, details, aux, attempt, gap)


def summary(name, c, B, kept, details, aux, attempt, gap):
    pairs = B * c["tokens"] * (c["router_k"] if c["router"] == "tokens-choice" else 1)
    kept_pairs = int(kept.sum().item())
    unrouted = int((kept.sum(dim=2) == 0).sum().item())
    caps = ",".join(f"S{g['S']}:C{g['C']}" for g in details["groups"])
    if c["router"] == "tokens-choice":
        what = f"top-K pairs {pairs}, kept {kept_pairs}, dropped {pairs - kept_pairs}"
    elif c["router"] == "experts-choice":
        what = f"kept pairs {kept_pairs}, tokens taken by no expert {unrouted}/{B * c['tokens']}"
    else:
        what = f"all {kept_pairs} tokens kept"
    return (f"router_{name}: {what}; capacities {caps or '-'}; aux {aux.item():.6g}; "
            f"seed offset {attempt}; min gate gap {gap:.3g}")


def token_major_keep(gates, K, C, bpr):
    """The wrong filling order (each token's K choices before the next token's), for the checks only."""
    S, n = gates.shape
    choices = top_experts(gates, K)
    order = sorted(range(S), key=lambda s: -gates[s, choices[s][0]].item()) if bpr else range(S)
    taken, kept = [0] * n, torch.zeros(S, n, dtype=DT)
    for s in order:
        for e in choices[s]:
            if taken[e] < C:
                kept[s, e], taken[e] = 1.0, taken[e] + 1
    return kept


def tc_discriminates(c, B, kept, details):
    """Some pair is dropped, flipping BPR changes the kept set and, for K > 1, so does token-major filling."""
    if B * c["tokens"] * c["router_k"] - int(kept.sum().item()) == 0:
        return False
    flipped = token_major = False
    gates = details["gates"]
    for lo, hi in group_ranges(B, c["tokens"], c["group_images"]):
        K, g, k = c["router_k"], gates[lo:hi], kept.reshape(gates.shape)[lo:hi]
        C = tc_capacity(hi - lo, K, c["capacity_factor"], c["experts"])
        flipped |= not torch.equal(tokens_choice_keep(g, K, C, not c["bpr"])[0], k)
        token_major |= not torch.equal(token_major_keep(g, K, C, c["bpr"]), k)
    return flipped and (token_major or K == 1)


def main():
    out_dir = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                                                  "fixtures")
    if len(sys.argv) > 2:
        sys.exit("usage: make_router_fixtures.py [OUTPUT_DIR]")
    os.makedirs(out_dir, exist_ok=True)
    torch.use_deterministic_algorithms(True)
    torch.set_num_threads(1)
    print("test vectors:", self_check_test_vectors())
    base = dict(tokens=3, dim=6, hidden=4, dim_out=5, group_images=2, experts=3, router_k=1, capacity_factor=1.0,
                bpr=False, aux_loss="none", aux_weight=0.0, noise=False, noise_std=1.0)

    def case(name, seed, requirement=None, **over):
        print(router_case(out_dir, name, seed, requirement, **{**base, **over}))

    case("tc_k1", 101, tc_discriminates, router="tokens-choice", activation="relu", expert_bias=False)
    case("tc_k2_bpr", 102, tc_discriminates, router="tokens-choice", router_k=2, bpr=True, aux_loss="importance,load",
         aux_weight=0.5, noise=True, activation="gelu", expert_bias=True)
    case("tc_k2", 103, tc_discriminates, router="tokens-choice", router_k=2, capacity_factor=1.25, aux_loss="switch",
         aux_weight=0.3, noise=True, activation="relu", expert_bias=True, x_shift=1.5)
    case("tc_k1_tight", 104, tc_discriminates, router="tokens-choice", capacity_factor=0.5, experts=4, bpr=True,
         aux_loss="importance,load", aux_weight=0.2, activation="gelu", expert_bias=False)
    case("ec_c1", 105, router="experts-choice", experts=4, noise=True, activation="relu", expert_bias=True)
    case("ec_c2", 106, router="experts-choice", capacity_factor=2.0, group_images=1, activation="gelu",
         expert_bias=False)
    case("dense", 107, router="dense", experts=1, hidden=7, activation="relu", expert_bias=True)


if __name__ == "__main__":
    main()
