#!/usr/bin/python3
"""Reference fixtures for tests/test_q_network.cpp: the RL agent's layers in PyTorch (float64).

Usage: /usr/bin/python3 tests/reference/make_rl_fixtures.py [OUTPUT_DIR]   (default: tests/reference/fixtures)

  rl_conv2d            F.conv2d (VALID, stride 1) on x [B, H, W, C] channels last: y, dx and the
                       gradients of sum(y * dy); the weight is stored as softmoe lays it out, [K, K, C, F]
  rl_qnet_<head>       the Q network (conv 3x3 + ReLU, then a dense layer + ReLU or a Soft MoE, then a
                       linear Q head) on binary states; the loss is F.smooth_l1_loss (Huber, delta 1, mean)
                       of q[b, actions[b]] against constant targets: q, loss and every parameter's gradient
Parameters are under softmoe's names and layouts; string metadata gives the sizes. Output is deterministic.
"""
import math
import os
import sys

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_fixtures import soft_moe, uniform, write_safetensors  # noqa: E402

DT = torch.float64


def conv_nhwc(x, weight, bias):
    """x [B, H, W, C], weight [K, K, C, F] -> [B, H-K+1, W-K+1, F]."""
    y = F.conv2d(x.permute(0, 3, 1, 2), weight.permute(3, 2, 0, 1), bias)
    return y.permute(0, 2, 3, 1)


def conv_case(out_dir, seed=11, B=2, H=5, W=6, C=3, K=3, Fo=4):
    torch.manual_seed(seed)
    x = torch.randn(B, H, W, C, dtype=DT, requires_grad=True)
    weight = uniform((K, K, C, Fo), (K * K * C) ** -0.5).requires_grad_(True)
    bias = uniform((Fo,), (K * K * C) ** -0.5).requires_grad_(True)
    y = conv_nhwc(x, weight, bias)
    dy = torch.randn(y.shape, dtype=DT)
    y.backward(dy)
    tensors = [("x", x), ("dy", dy), ("conv.weight", weight), ("conv.bias", bias), ("y", y), ("dx", x.grad),
               ("grad.conv.weight", weight.grad), ("grad.conv.bias", bias.grad)]
    meta = {"batch": B, "height": H, "width": W, "channels": C, "kernel": K, "filters": Fo}
    write_safetensors(os.path.join(out_dir, "rl_conv2d.safetensors"), tensors, {k: str(v) for k, v in meta.items()})


def qnet_case(out_dir, name, seed, head, tokenize="per-conv", B=5, C=4, filters=4, hidden=8, width_mult=2,
              experts=3, expert_hidden=5, actions=6):
    torch.manual_seed(seed)
    P = {"conv.weight": uniform((3, 3, C, filters), (9 * C) ** -0.5), "conv.bias": uniform((filters,), (9 * C) ** -0.5)}
    enc = 64 * filters
    m, d = (64, filters) if tokenize == "per-conv" else (filters, 64)
    c = {"tokens": m, "dim": d, "experts": experts, "slots": math.ceil(m / experts), "hidden": expert_hidden,
         "dim_out": d, "expert_bias": True, "activation": "relu", "normalize": "none"}
    if head == "dense":
        width = hidden * width_mult
        P["hidden.weight"] = uniform((width, enc), enc ** -0.5)
        P["hidden.bias"] = uniform((width,), enc ** -0.5)
        q_inputs = width
    else:
        S = experts * c["slots"]
        P["moe.router.phi"] = torch.randn(d, S, dtype=DT) / d ** 0.5
        P["moe.router.scale"] = torch.tensor([1.0], dtype=DT)
        P["moe.experts.w1"] = uniform((experts, d, expert_hidden), d ** -0.5)
        P["moe.experts.b1"] = uniform((experts, expert_hidden), d ** -0.5)
        P["moe.experts.w2"] = uniform((experts, expert_hidden, d), expert_hidden ** -0.5)
        P["moe.experts.b2"] = uniform((experts, d), expert_hidden ** -0.5)
        q_inputs = enc
    P["q.weight"] = uniform((actions, q_inputs), q_inputs ** -0.5)
    P["q.bias"] = uniform((actions,), q_inputs ** -0.5)
    P = {k: v.clone().requires_grad_(True) for k, v in P.items()}

    x = (torch.rand(B, 10, 10, C, dtype=DT) < 0.3).to(DT)
    e = torch.relu(conv_nhwc(x, P["conv.weight"], P["conv.bias"])).reshape(B, 64, filters)
    if head == "dense":
        features = torch.relu(e.reshape(B, enc) @ P["hidden.weight"].T + P["hidden.bias"])
    else:
        tokens = e if tokenize == "per-conv" else e.transpose(1, 2)
        moe = {k[len("moe."):]: v for k, v in P.items() if k.startswith("moe.")}
        features = soft_moe(tokens, moe, c).reshape(B, -1)
    q = features @ P["q.weight"].T + P["q.bias"]
    chosen = torch.randint(0, actions, (B,))
    targets = (q.detach().gather(1, chosen[:, None])[:, 0] + 1.5 * torch.randn(B, dtype=DT))
    loss = F.smooth_l1_loss(q.gather(1, chosen[:, None])[:, 0], targets)
    loss.backward()
    tensors = [("x", x), ("actions", chosen.to(torch.int32)), ("targets", targets)] + list(P.items())
    tensors += [("q", q), ("loss", loss.reshape(1))]
    tensors += [("grad." + k, v.grad if v.grad is not None else torch.zeros_like(v)) for k, v in P.items()]
    meta = {"batch": B, "channels": C, "filters": filters, "head": head, "hidden": hidden, "width_mult": width_mult,
            "experts": experts, "expert_hidden": expert_hidden, "tokenize": tokenize}
    write_safetensors(os.path.join(out_dir, name + ".safetensors"), tensors, {k: str(v) for k, v in meta.items()})


def main():
    out_dir = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "fixtures")
    os.makedirs(out_dir, exist_ok=True)
    conv_case(out_dir)
    qnet_case(out_dir, "rl_qnet_dense", 21, "dense")
    qnet_case(out_dir, "rl_qnet_softmoe_per_conv", 22, "softmoe", "per-conv")
    qnet_case(out_dir, "rl_qnet_softmoe_per_feat", 23, "softmoe", "per-feat")


if __name__ == "__main__":
    main()
