#!/usr/bin/python3
"""Reference fixtures for tests/test_vit_reference.cpp: the Vision Transformer's layers in PyTorch (float64).

Usage: /usr/bin/python3 tests/reference/make_vit_fixtures.py [OUTPUT_DIR]   (default: tests/reference/fixtures)

Writes vit_*.safetensors with make_fixtures.py's hand-written safetensors writer: inputs, parameters under
PyTorch's own state_dict names (nn.LayerNorm, nn.MultiheadAttention, nn.Conv2d, timm's Block), outputs,
the input gradient and every parameter gradient (as grad.NAME) of sum(y * dy) for a random dy, all F64.
String metadata gives the shapes. Every layer here is the stock torch module, not a re-implementation:
  vit_layernorm     nn.LayerNorm(D) (eps 1e-5) on x [B, L, D]
  vit_attention     nn.MultiheadAttention(D, H, batch_first=True), attn(x, x, x, need_weights=False)
  vit_patch_embed   nn.Conv2d(1, D, p, stride=p) on images [B, rows, cols], flattened to [B, P, D],
                    a class token prepended, a position embedding [1, L, D] added
  vit_pool          mean over tokens and token 0 of x [B, L, D] (y_mean, dx_mean, y_cls, dx_cls)
  vit_block         pre-LN block: x1 = x + MHA(LN1(x)); y = x1 + fc2(GELU(fc1(LN2(x1)))), fc1 D -> 4D
Output is deterministic: regenerating gives byte-identical files.
"""
import os
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_fixtures import write_safetensors  # noqa: E402

DT = torch.float64


def randomize(module, scale=0.3):
    """Moves every LayerNorm weight away from 1 and every bias away from 0 (PyTorch initialises them to 1
    and 0, which would leave parts of the gradients untested); weights keep their seeded default init."""
    with torch.no_grad():
        for name, p in module.named_parameters():
            if name.endswith("bias"):
                p.copy_(scale * torch.randn_like(p))
        for m in module.modules():
            if isinstance(m, nn.LayerNorm):
                m.weight.copy_(1 + scale * torch.randn_like(m.weight))


def save(out_dir, name, inputs, module_params, outputs, input_grads, meta):
    """inputs, outputs, input_grads: lists of (name, tensor); module_params: named_parameters()."""
    params = list(module_params)
    tensors = inputs + [(k, p) for k, p in params] + outputs + input_grads
    tensors += [("grad." + k, p.grad if p.grad is not None else torch.zeros_like(p)) for k, p in params]
    write_safetensors(os.path.join(out_dir, name + ".safetensors"), tensors,
                      {k: str(v).lower() if isinstance(v, bool) else str(v) for k, v in meta.items()})


def layernorm_case(out_dir, seed, B=2, L=3, D=7):
    torch.manual_seed(seed)
    ln = nn.LayerNorm(D, dtype=DT)
    randomize(ln)
    x = (2 * torch.randn(B, L, D, dtype=DT) + 1).requires_grad_(True)
    dy = torch.randn(B, L, D, dtype=DT)
    y = ln(x)
    y.backward(dy)
    save(out_dir, "vit_layernorm", [("x", x), ("dy", dy)], ln.named_parameters(), [("y", y)],
         [("dx", x.grad)], {"kind": "layernorm", "batch": B, "tokens": L, "dim": D})


def attention_case(out_dir, seed, B=2, L=5, D=6, H=2):
    torch.manual_seed(seed)
    attn = nn.MultiheadAttention(D, H, batch_first=True, dtype=DT)
    randomize(attn)
    x = torch.randn(B, L, D, dtype=DT, requires_grad=True)
    dy = torch.randn(B, L, D, dtype=DT)
    y, _ = attn(x, x, x, need_weights=False)
    y.backward(dy)
    save(out_dir, "vit_attention", [("x", x), ("dy", dy)], attn.named_parameters(), [("y", y)],
         [("dx", x.grad)], {"kind": "attention", "batch": B, "tokens": L, "dim": D, "heads": H})


class PatchEmbed(nn.Module):
    def __init__(self, rows, cols, patch, dim):
        super().__init__()
        self.proj = nn.Conv2d(1, dim, patch, stride=patch, dtype=DT)
        tokens = (rows // patch) * (cols // patch) + 1
        self.pos_embed = nn.Parameter(torch.randn(1, tokens, dim, dtype=DT))
        self.cls_token = nn.Parameter(torch.randn(1, 1, dim, dtype=DT))

    def forward(self, images):  # [B, rows, cols] -> [B, 1 + P, D]
        tokens = self.proj(images[:, None]).flatten(2).transpose(1, 2)  # patches in row-major order
        cls = self.cls_token.expand(images.shape[0], -1, -1)
        return torch.cat([cls, tokens], dim=1) + self.pos_embed


def patch_embed_case(out_dir, seed, B=2, rows=8, cols=12, patch=4, D=5):
    torch.manual_seed(seed)
    embed = PatchEmbed(rows, cols, patch, D)
    randomize(embed)
    images = torch.randn(B, rows, cols, dtype=DT, requires_grad=True)
    y = embed(images)
    dy = torch.randn(*y.shape, dtype=DT)
    y.backward(dy)
    save(out_dir, "vit_patch_embed", [("images", images), ("dy", dy)], embed.named_parameters(), [("y", y)],
         [("dimages", images.grad)],
         {"kind": "patch_embed", "batch": B, "rows": rows, "cols": cols, "patch": patch, "dim": D,
          "class_token": True})


def pool_case(out_dir, seed, B=3, L=4, D=5):
    torch.manual_seed(seed)
    x = torch.randn(B, L, D, dtype=DT)
    dy = torch.randn(B, D, dtype=DT)
    tensors = {}
    for mode in ("mean", "cls"):
        xg = x.clone().requires_grad_(True)
        y = xg.mean(dim=1) if mode == "mean" else xg[:, 0]
        y.backward(dy)
        tensors["y_" + mode], tensors["dx_" + mode] = y, xg.grad
    save(out_dir, "vit_pool", [("x", x), ("dy", dy)], [], sorted(tensors.items()), [],
         {"kind": "pool", "batch": B, "tokens": L, "dim": D})


class Mlp(nn.Module):
    def __init__(self, dim, hidden):
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden, dtype=DT)
        self.fc2 = nn.Linear(hidden, dim, dtype=DT)

    def forward(self, x):
        return self.fc2(F.gelu(self.fc1(x)))  # exact (erf) GELU


class Block(nn.Module):
    """timm's pre-LN ViT block without dropout, drop-path or layer scale."""

    def __init__(self, dim, heads):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, dtype=DT)
        self.attn = nn.MultiheadAttention(dim, heads, batch_first=True, dtype=DT)
        self.norm2 = nn.LayerNorm(dim, dtype=DT)
        self.mlp = Mlp(dim, 4 * dim)

    def forward(self, x):
        h = self.norm1(x)
        x = x + self.attn(h, h, h, need_weights=False)[0]
        return x + self.mlp(self.norm2(x))


def block_case(out_dir, seed, B=2, L=5, D=8, H=2):
    torch.manual_seed(seed)
    block = Block(D, H)
    randomize(block)
    x = torch.randn(B, L, D, dtype=DT, requires_grad=True)
    dy = torch.randn(B, L, D, dtype=DT)
    y = block(x)
    y.backward(dy)
    save(out_dir, "vit_block", [("x", x), ("dy", dy)], block.named_parameters(), [("y", y)], [("dx", x.grad)],
         {"kind": "block", "batch": B, "tokens": L, "dim": D, "heads": H, "mlp_hidden": 4 * D})


def main():
    if len(sys.argv) > 2:
        sys.exit("usage: make_vit_fixtures.py [OUTPUT_DIR]")
    here = os.path.dirname(os.path.abspath(__file__))
    out_dir = sys.argv[1] if len(sys.argv) == 2 else os.path.join(here, "fixtures")
    os.makedirs(out_dir, exist_ok=True)
    torch.use_deterministic_algorithms(True)
    torch.set_num_threads(1)
    layernorm_case(out_dir, 101)
    attention_case(out_dir, 102)
    patch_embed_case(out_dir, 103)
    pool_case(out_dir, 104)
    block_case(out_dir, 105)


if __name__ == "__main__":
    main()
