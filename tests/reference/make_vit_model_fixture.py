#!/usr/bin/python3
"""Reference fixture for tests/test_vit_model_reference.cpp: one whole tiny Soft MoE ViT in PyTorch (float64).

Usage: /usr/bin/python3 tests/reference/make_vit_model_fixture.py [OUTPUT_DIR]   (default: tests/reference/fixtures)

Writes vit_model.safetensors (make_fixtures.py's hand-written safetensors writer): the input images [B, rows, cols],
labels (I64), every parameter under softmoe's / timm's names, the logits, the label-smoothed cross-entropy loss
(F.cross_entropy(..., label_smoothing=eps), mean over the batch) and every parameter gradient of that loss
(grad.NAME), all F64. String metadata gives the configuration. The model:
  patch_embed.proj (nn.Conv2d(1, D, p, stride=p)) -> prepend cls_token -> + pos_embed
  block 0, dense:   x = x + MHA(LN1(x)); x = x + fc2(GELU(fc1(LN2(x))))
  block 1, MoE:     x = x + MHA(LN1(x)); x = x + SoftMoE(LN2(x))   (every token routed, the class token too)
  norm (LayerNorm) -> class token -> head (nn.Linear)
The Soft MoE is make_fixtures.soft_moe (section 1 of the reference note, implemented independently of the C++),
normalisation `router`, experts Linear(D -> h) -> GELU -> Linear(h -> D) with biases, p = 2 slots per expert.
The images are not square (8 x 12), so rows and columns cannot be confused. LayerNorm weights, biases, the class
token and router.scale are moved away from their initial values, so that every part of every gradient is tested.
Output is deterministic: regenerating gives a byte-identical file.
"""
import os
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_fixtures import soft_moe, write_safetensors  # noqa: E402
from make_vit_fixtures import Mlp, randomize  # noqa: E402

DT = torch.float64
CONFIG = dict(rows=8, cols=12, patch=4, dim=8, depth=2, heads=2, mlp_hidden=12, pool="cls", moe_layers="1",
              moe_residual=True, experts=3, slots=2, expert_hidden=5, normalize="router", classes=5)
BATCH = 4
SMOOTHING = 0.1


def uniform(shape, bound):
    return (torch.rand(shape, dtype=DT) * 2 - 1) * bound


class SoftMoE(nn.Module):
    """Parameters router.phi [D, n p], router.scale [1], experts.w1 [n, D, h], b1 [n, h], w2 [n, h, D], b2 [n, D]."""

    def __init__(self, dim, experts, slots, hidden, normalize):
        super().__init__()
        self.c = dict(experts=experts, slots=slots, normalize=normalize, expert_bias=True, activation="gelu")
        self.router = nn.Module()
        self.router.phi = nn.Parameter(torch.randn(dim, experts * slots, dtype=DT) / dim**0.5)
        self.router.scale = nn.Parameter(torch.tensor([1.3], dtype=DT))
        self.experts = nn.Module()
        self.experts.w1 = nn.Parameter(uniform((experts, dim, hidden), dim**-0.5))
        self.experts.b1 = nn.Parameter(uniform((experts, hidden), dim**-0.5))
        self.experts.w2 = nn.Parameter(uniform((experts, hidden, dim), hidden**-0.5))
        self.experts.b2 = nn.Parameter(uniform((experts, dim), hidden**-0.5))

    def forward(self, x):
        return soft_moe(x, dict(self.named_parameters()), self.c)


class Block(nn.Module):
    """timm's pre-LN block (no dropout, drop-path or layer scale); the MLP optionally a Soft MoE."""

    def __init__(self, c, moe):
        super().__init__()
        D = c["dim"]
        self.norm1 = nn.LayerNorm(D, dtype=DT)
        self.attn = nn.MultiheadAttention(D, c["heads"], batch_first=True, dtype=DT)
        self.norm2 = nn.LayerNorm(D, dtype=DT)
        self.residual = not moe or c["moe_residual"]
        if moe:
            self.moe = SoftMoE(D, c["experts"], c["slots"], c["expert_hidden"], c["normalize"])
        else:
            self.mlp = Mlp(D, c["mlp_hidden"])

    def forward(self, x):
        h = self.norm1(x)
        x = x + self.attn(h, h, h, need_weights=False)[0]
        h = self.norm2(x)
        y = self.moe(h) if hasattr(self, "moe") else self.mlp(h)
        return x + y if self.residual else y


class ViT(nn.Module):
    def __init__(self, c):
        super().__init__()
        D = c["dim"]
        tokens = (c["rows"] // c["patch"]) * (c["cols"] // c["patch"]) + 1
        self.patch_embed = nn.Module()
        self.patch_embed.proj = nn.Conv2d(1, D, c["patch"], stride=c["patch"], dtype=DT)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, D, dtype=DT))
        self.pos_embed = nn.Parameter(0.02 * torch.randn(1, tokens, D, dtype=DT))
        moe = {int(i) for i in c["moe_layers"].split(",")}
        self.blocks = nn.ModuleList([Block(c, i in moe) for i in range(c["depth"])])
        self.norm = nn.LayerNorm(D, dtype=DT)
        self.head = nn.Linear(D, c["classes"], dtype=DT)

    def forward(self, images):  # [B, rows, cols] -> [B, classes]
        x = self.patch_embed.proj(images[:, None]).flatten(2).transpose(1, 2)  # patches in row-major order
        x = torch.cat([self.cls_token.expand(images.shape[0], -1, -1), x], dim=1) + self.pos_embed
        for block in self.blocks:
            x = block(x)
        return self.head(self.norm(x)[:, 0])


def main():
    if len(sys.argv) > 2:
        sys.exit("usage: make_vit_model_fixture.py [OUTPUT_DIR]")
    here = os.path.dirname(os.path.abspath(__file__))
    out_dir = sys.argv[1] if len(sys.argv) == 2 else os.path.join(here, "fixtures")
    os.makedirs(out_dir, exist_ok=True)
    torch.use_deterministic_algorithms(True)
    torch.set_num_threads(1)
    torch.manual_seed(106)
    model = ViT(CONFIG)
    randomize(model)
    with torch.no_grad():
        model.cls_token.copy_(0.3 * torch.randn_like(model.cls_token))
    images = torch.randn(BATCH, CONFIG["rows"], CONFIG["cols"], dtype=DT)
    labels = torch.randint(0, CONFIG["classes"], (BATCH,), dtype=torch.int64)
    logits = model(images)
    loss = F.cross_entropy(logits, labels, label_smoothing=SMOOTHING)
    loss.backward()
    params = list(model.named_parameters())
    tensors = [("images", images), ("labels", labels)] + params + [("logits", logits), ("loss", loss)]
    tensors += [("grad." + k, p.grad) for k, p in params]
    meta = {k: str(v).lower() if isinstance(v, bool) else str(v) for k, v in CONFIG.items()}
    meta.update(kind="vit_model", batch=str(BATCH), label_smoothing=repr(SMOOTHING))
    write_safetensors(os.path.join(out_dir, "vit_model.safetensors"), tensors, meta)


if __name__ == "__main__":
    main()
