#!/usr/bin/python3
"""Reference fixtures for tests/test_reference.cpp, computed independently in PyTorch (float64).

Usage: /usr/bin/python3 tests/reference/make_fixtures.py OUTPUT_DIR

Each fixture is a small safetensors file (written by hand here: struct + json, no safetensors package)
holding inputs, parameters under softmoe's checkpoint names, outputs and autograd gradients, all F64
(labels I64). Its string metadata says what to run ("kind": layer, model or optim) and with which settings.
The Soft MoE layer follows docs section 1 of the reference note:
  L = Xr Phir; D = softmax over tokens; C = softmax over slots; Xs = D^T Xe; Ys = experts(Xs); Y = C Ys
with normalisation none / router / all, a / (||a|| + 1e-6) for token rows and Phi columns.
Output is deterministic: regenerating gives byte-identical files.
"""
import json
import os
import struct
import sys
import zlib

import torch
import torch.nn.functional as F

EPS = 1e-6
DTYPES = {torch.float64: ("F64", 8), torch.float32: ("F32", 4), torch.int64: ("I64", 8), torch.int32: ("I32", 4)}


def write_safetensors(path, tensors, metadata):
    """tensors: list of (name, tensor) in file order; metadata: {str: str}. Adds softmoe.crc32."""
    header, chunks, offset = {}, [], 0
    for name, t in tensors:
        dtype, _ = DTYPES[t.dtype]
        data = t.detach().contiguous().cpu().numpy().tobytes()  # x86: little-endian
        header[name] = {"dtype": dtype, "shape": list(t.shape), "data_offsets": [offset, offset + len(data)]}
        chunks.append(data)
        offset += len(data)
    data = b"".join(chunks)
    meta = dict(metadata)
    meta["softmoe.crc32"] = "%08x" % (zlib.crc32(data) & 0xFFFFFFFF)
    text = json.dumps({"__metadata__": meta, **header}, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text + data)


def soft_moe(x, P, c):
    """x [B, m, d] -> y [B, m, d_out]. P: parameters by softmoe name. Slot s belongs to expert s // p."""
    B, m, d = x.shape
    n, p = c["experts"], c["slots"]
    phi = P["router.phi"]  # [d, n p]
    if c["normalize"] == "none":
        xr, phir = x, phi
    else:
        xr = x / (torch.linalg.vector_norm(x, dim=2, keepdim=True) + EPS)
        phir = P["router.scale"] * phi / (torch.linalg.vector_norm(phi, dim=0, keepdim=True) + EPS)
    xe = xr if c["normalize"] == "all" else x
    logits = torch.einsum("bmd,ds->bms", xr, phir)
    dispatch = torch.softmax(logits, dim=1)  # over tokens
    combine = torch.softmax(logits, dim=2)  # over slots
    # The routing ablations of the Soft MoE paper: constant dispatch and/or combine weights.
    mixing = c.get("mixing", "soft")
    if mixing in ("uniform-soft", "uniform"):
        dispatch = torch.full_like(dispatch, 1.0 / m)
    if mixing in ("soft-uniform-combine", "uniform"):
        combine = torch.full_like(combine, 1.0 / (n * p))
    if mixing == "identity":  # n p = m: token t is slot t
        dispatch = torch.eye(m, dtype=x.dtype).expand(B, m, m)
        combine = dispatch
    xs = torch.einsum("bms,bmd->bsd", dispatch, xe).reshape(B, n, p, d)
    h = torch.einsum("bnpd,ndh->bnph", xs, P["experts.w1"])
    if c["expert_bias"]:
        h = h + P["experts.b1"][None, :, None, :]
    h = torch.relu(h) if c["activation"] == "relu" else F.gelu(h)  # exact (erf) GELU
    ys = torch.einsum("bnph,nho->bnpo", h, P["experts.w2"])
    if c["expert_bias"]:
        ys = ys + P["experts.b2"][None, :, None, :]
    return torch.einsum("bms,bso->bmo", combine, ys.reshape(B, n * p, -1))


def uniform(shape, bound):
    return (torch.rand(shape, dtype=torch.float64) * 2 - 1) * bound


def moe_params(c):
    """Parameters in registration order (the C++ ParamBuffer order), PyTorch-like initialisation."""
    d, S, n, h, o = c["dim"], c["experts"] * c["slots"], c["experts"], c["hidden"], c["dim_out"]
    phi = uniform((d, S), 1.0) if c["phi"] == "uniform" else torch.randn(d, S, dtype=torch.float64) / d**0.5
    P = {"router.phi": phi, "router.scale": torch.tensor([1.3], dtype=torch.float64)}
    P["experts.w1"] = uniform((n, d, h), d**-0.5)
    if c["expert_bias"]:
        P["experts.b1"] = uniform((n, h), d**-0.5)
    P["experts.w2"] = uniform((n, h, o), h**-0.5)
    if c["expert_bias"]:
        P["experts.b2"] = uniform((n, o), h**-0.5)
    return P


def with_grad(P):
    return {k: v.clone().requires_grad_(True) for k, v in P.items()}


def grads(P):
    """Autograd gradients; a parameter the loss does not use (scale without normalisation) gets zeros."""
    return [("grad." + k, v.grad if v.grad is not None else torch.zeros_like(v)) for k, v in P.items()]


def metadata(kind, c, batch, **extra):
    meta = {"kind": kind, "batch": str(batch)}
    for key in ("tokens", "dim", "experts", "slots", "hidden", "dim_out"):
        meta[key] = str(c[key])
    meta["expert_bias"] = "true" if c["expert_bias"] else "false"
    meta["activation"], meta["normalize"] = c["activation"], c["normalize"]
    if "mixing" in c:
        meta["mixing"] = c["mixing"]
    meta.update({k: str(v).lower() if isinstance(v, bool) else str(v) for k, v in extra.items()})
    return meta


def layer_case(out_dir, name, seed, B=3, **c):
    """One Soft MoE layer: y = layer(x), dx and parameter gradients of sum(y * dy)."""
    torch.manual_seed(seed)
    P = with_grad(moe_params(c))
    x = torch.randn(B, c["tokens"], c["dim"], dtype=torch.float64, requires_grad=True)
    dy = torch.randn(B, c["tokens"], c["dim_out"], dtype=torch.float64)
    y = soft_moe(x, P, c)
    y.backward(dy)
    tensors = [("x", x), ("dy", dy)] + list(P.items()) + [("y", y), ("dx", x.grad)] + grads(P)
    write_safetensors(os.path.join(out_dir, name + ".safetensors"), tensors, metadata("layer", c, B))


def model_case(out_dir, name, seed, loss, outputs, head_bias, B=3, **c):
    """SoftMoE -> flatten [B, m d_out] -> Linear head; mean cross-entropy on labels or MSE to a target."""
    torch.manual_seed(seed)
    P = moe_params(c)
    fan_in = c["tokens"] * c["dim_out"]
    P["head.weight"] = uniform((outputs, fan_in), fan_in**-0.5)
    if head_bias:
        P["head.bias"] = uniform((outputs,), fan_in**-0.5)
    P = with_grad(P)
    x = torch.randn(B, c["tokens"], c["dim"], dtype=torch.float64)
    out = soft_moe(x, P, c).reshape(B, fan_in) @ P["head.weight"].T
    if head_bias:
        out = out + P["head.bias"]
    if loss == "cross_entropy":
        target = ("labels", torch.randint(0, outputs, (B,), dtype=torch.int64))
        value = F.cross_entropy(out, target[1])
    else:
        target = ("target", torch.randn(B, outputs, dtype=torch.float64))
        value = F.mse_loss(out, target[1])
    value.backward()
    tensors = [("x", x), target] + list(P.items()) + [("out", out), ("loss", value)] + grads(P)
    meta = metadata("model", c, B, loss=loss, outputs=outputs, head_bias=head_bias)
    write_safetensors(os.path.join(out_dir, name + ".safetensors"), tensors, meta)


def optim_case(out_dir, name, seed, optimizer, lr, weight_decay, steps=3, shape=(3, 4)):
    """`steps` updates of one parameter tensor with torch.optim; the parameters after each step."""
    torch.manual_seed(seed)
    p = torch.nn.Parameter(torch.randn(*shape, dtype=torch.float64))
    initial = p.detach().clone()
    g = torch.randn(steps, *shape, dtype=torch.float64)
    if optimizer == "adam":
        opt = torch.optim.Adam([p], lr=lr, weight_decay=weight_decay)
    elif optimizer == "adamw":
        opt = torch.optim.AdamW([p], lr=lr, weight_decay=weight_decay)
    else:
        opt = torch.optim.SGD([p], lr=lr, momentum=0.9, weight_decay=weight_decay)
    after = []
    for t in range(steps):
        p.grad = g[t].clone()
        opt.step()
        after.append(p.detach().clone())
    meta = {"kind": "optim", "optimizer": optimizer, "lr": repr(lr), "weight_decay": repr(weight_decay),
            "momentum": "0.9", "steps": str(steps)}
    tensors = [("params", initial), ("grads", g), ("after", torch.stack(after))]
    write_safetensors(os.path.join(out_dir, name + ".safetensors"), tensors, meta)


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: make_fixtures.py OUTPUT_DIR")
    out_dir = sys.argv[1]
    os.makedirs(out_dir, exist_ok=True)
    torch.use_deterministic_algorithms(True)
    torch.set_num_threads(1)
    base = dict(tokens=4, dim=6, hidden=5)
    layer_case(out_dir, "layer_none_p1_bias_relu", 1, experts=3, slots=1, dim_out=6, expert_bias=True,
               activation="relu", normalize="none", phi="normal", **base)
    layer_case(out_dir, "layer_none_p2_nobias_gelu", 2, experts=3, slots=2, dim_out=3, expert_bias=False,
               activation="gelu", normalize="none", phi="uniform", **base)
    layer_case(out_dir, "layer_router_p1_nobias_gelu", 3, experts=4, slots=1, dim_out=6, expert_bias=False,
               activation="gelu", normalize="router", phi="normal", **base)
    layer_case(out_dir, "layer_router_p2_bias_relu", 4, experts=3, slots=2, dim_out=3, expert_bias=True,
               activation="relu", normalize="router", phi="uniform", **base)
    layer_case(out_dir, "layer_all_p1_nobias_relu", 5, experts=4, slots=1, dim_out=6, expert_bias=False,
               activation="relu", normalize="all", phi="uniform", **base)
    layer_case(out_dir, "layer_all_p2_bias_gelu", 6, experts=4, slots=2, dim_out=3, expert_bias=True,
               activation="gelu", normalize="all", phi="normal", **base)
    model_case(out_dir, "model_cross_entropy", 7, "cross_entropy", outputs=5, head_bias=False, experts=4, slots=1,
               dim_out=3, expert_bias=False, activation="relu", normalize="all", phi="uniform", **base)
    model_case(out_dir, "model_mse", 8, "mse", outputs=1, head_bias=True, experts=3, slots=2, dim_out=6,
               expert_bias=True, activation="relu", normalize="router", phi="normal", **base)
    optim_case(out_dir, "optim_adam", 9, "adam", 1e-2, 0.0)
    optim_case(out_dir, "optim_adam_l2", 10, "adam", 1e-2, 0.1)
    optim_case(out_dir, "optim_adamw", 11, "adamw", 1e-2, 0.1)
    optim_case(out_dir, "optim_sgd", 12, "sgd", 1e-2, 0.1)
    # The routing ablations (the Soft MoE paper's appendix), after the others so that those stay identical.
    layer_case(out_dir, "layer_all_p1_bias_gelu_soft-uniform-combine", 13, experts=3, slots=1, dim_out=3,
               expert_bias=True, activation="gelu", normalize="all", phi="normal", mixing="soft-uniform-combine", **base)
    layer_case(out_dir, "layer_router_p2_nobias_relu_uniform-soft", 14, experts=3, slots=2, dim_out=6,
               expert_bias=False, activation="relu", normalize="router", phi="uniform", mixing="uniform-soft", **base)
    layer_case(out_dir, "layer_none_p1_bias_gelu_uniform", 15, experts=3, slots=1, dim_out=3, expert_bias=True,
               activation="gelu", normalize="none", phi="normal", mixing="uniform", **base)
    layer_case(out_dir, "layer_all_p2_bias_relu_identity", 16, experts=2, slots=2, dim_out=3, expert_bias=True,
               activation="relu", normalize="all", phi="uniform", mixing="identity", **base)


if __name__ == "__main__":
    main()
