#!/usr/bin/python3
"""Rebuilds a softmoe checkpoint in PyTorch from its tensor names alone and measures its test accuracy.

    /usr/bin/python3 tests/reference/check_checkpoint.py RUN_DIR [--data-dir DIR]

Reads RUN_DIR/model.safetensors (parsed by hand: 8-byte header length, JSON header, raw little-endian
data), builds the Soft MoE model of the reference note (section 1) in float32, evaluates it on the MNIST
test set (or the IDX files in --data-dir) with the paper's tokenisation, and compares with the last
test_accuracy of RUN_DIR/train.csv. Exits 1 when they differ by more than two images in 10,000.
"""
import argparse
import gzip
import json
import pathlib
import struct
import sys

import numpy as np
import torch

DTYPES = {"F32": np.float32, "F64": np.float64, "I32": np.int32, "I64": np.int64}


def read_safetensors(path):
    blob = pathlib.Path(path).read_bytes()
    (header_len,) = struct.unpack("<Q", blob[:8])
    header = json.loads(blob[8:8 + header_len])
    metadata = header.pop("__metadata__", {})
    data = blob[8 + header_len:]
    tensors = {}
    for name, info in header.items():
        begin, end = info["data_offsets"]
        array = np.frombuffer(data[begin:end], dtype=DTYPES[info["dtype"]]).reshape(info["shape"])
        tensors[name] = torch.from_numpy(array.copy())
    return tensors, metadata


def read_idx(path):
    opener = gzip.open if str(path).endswith(".gz") else open
    with opener(path, "rb") as f:
        blob = f.read()
    rank = blob[3]
    dims = struct.unpack(">" + "I" * rank, blob[4:4 + 4 * rank])
    return np.frombuffer(blob[4 + 4 * rank:], dtype=np.uint8).reshape(dims)


def find(data_dir, name):
    for candidate in (data_dir / (name + ".gz"), data_dir / name):
        if candidate.exists():
            return candidate
    sys.exit(f"{data_dir}: no {name}(.gz)")


def tokens(images, patch=14, mean=0.1307, std=0.3081):
    """[N, 28, 28] uint8 -> [N, 4, 196] float32: 14x14 patches in row-major patch order."""
    x = torch.from_numpy(images.astype(np.float32)) / 255.0
    x = (x - mean) / std
    n, rows, cols = x.shape
    x = x.reshape(n, rows // patch, patch, cols // patch, patch).permute(0, 1, 3, 2, 4)
    return x.reshape(n, (rows // patch) * (cols // patch), patch * patch)


def l2_normalize(a, dim, eps=1e-6):
    return a / (a.norm(dim=dim, keepdim=True) + eps)


def soft_moe(x, t, cfg):
    """x [B, m, d] -> [B, m, d_out], exactly as the reference note's section 1."""
    phi, scale = t["router.phi"], t["router.scale"]
    if cfg["normalize"] == "none":
        xr, phir = x, phi
    else:
        xr, phir = l2_normalize(x, -1), scale * l2_normalize(phi, 0)
    xe = xr if cfg["normalize"] == "all" else x
    logits = xr @ phir                            # [B, m, S]
    dispatch = logits.softmax(dim=1)              # over tokens
    combine = logits.softmax(dim=2)               # over slots
    slots = dispatch.transpose(1, 2) @ xe         # [B, S, d]
    n, p = cfg["experts"], cfg["slots"]
    slots = slots.reshape(x.shape[0], n, p, -1).transpose(0, 1)   # [n, B, p, d]
    hidden = torch.einsum("nbpd,ndh->nbph", slots, t["experts.w1"])
    if "experts.b1" in t:
        hidden = hidden + t["experts.b1"][:, None, None, :]
    hidden = torch.relu(hidden) if cfg["activation"] == "relu" else torch.nn.functional.gelu(hidden)
    out = torch.einsum("nbph,nho->nbpo", hidden, t["experts.w2"])
    if "experts.b2" in t:
        out = out + t["experts.b2"][:, None, None, :]
    out = out.transpose(0, 1).reshape(x.shape[0], n * p, -1)      # [B, S, d_out]
    return combine @ out


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run_dir", type=pathlib.Path)
    parser.add_argument("--data-dir", type=pathlib.Path,
                        default=pathlib.Path(__file__).resolve().parents[2] / "data" / "mnist")
    args = parser.parse_args()
    torch.set_num_threads(1)

    t, metadata = read_safetensors(args.run_dir / "model.safetensors")
    cfg = json.loads(metadata["softmoe.model"])
    images = read_idx(find(args.data_dir, "t10k-images-idx3-ubyte"))
    labels = torch.from_numpy(read_idx(find(args.data_dir, "t10k-labels-idx1-ubyte")).astype(np.int64))

    correct = 0
    with torch.no_grad():
        for first in range(0, len(images), 1000):
            y = soft_moe(tokens(images[first:first + 1000]), t, cfg).flatten(1)
            logits = y @ t["head.weight"].T + (t["head.bias"] if "head.bias" in t else 0)
            correct += (logits.argmax(1) == labels[first:first + 1000]).sum().item()
    accuracy = correct / len(images)

    rows = (args.run_dir / "train.csv").read_text().strip().splitlines()
    header = rows[0].split(",")
    softmoe_accuracy = float(rows[-1].split(",")[header.index("test_accuracy")])
    print(f"pytorch test accuracy {accuracy:.4f}, softmoe {softmoe_accuracy:.4f}, "
          f"difference {abs(accuracy - softmoe_accuracy) * len(images):.0f} image(s)")
    return 0 if abs(accuracy - softmoe_accuracy) <= 2.0 / len(images) + 1e-12 else 1


if __name__ == "__main__":
    sys.exit(main())
