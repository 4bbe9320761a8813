"""Conversions between ganlab's image tensors (`img` in [-1, 1], NCHW, RGB) and uint8 pictures."""

from __future__ import annotations

import numpy as np
import torch


def to_uint8(img: torch.Tensor) -> np.ndarray:
    """`img` [N, 3, H, W] in [-1, 1] -> uint8 [N, H, W, 3], rounded as the official `generate.py` does."""
    x = (img.detach().float().permute(0, 2, 3, 1) * 127.5 + 128).clamp(0, 255).to(torch.uint8)
    return x.cpu().numpy()


def from_uint8(arr: np.ndarray) -> torch.Tensor:
    """uint8 [H, W, 3] or [N, H, W, 3] -> `img` [N, 3, H, W] in [-1, 1]."""
    x = torch.from_numpy(np.array(arr, dtype=np.float32))
    if x.ndim == 3:
        x = x.unsqueeze(0)
    return x.permute(0, 3, 1, 2) / 127.5 - 1


def grid(images: np.ndarray, cols: int, pad: int = 2, fill: int = 255) -> np.ndarray:
    """Tile uint8 [N, H, W, 3] images into one uint8 picture, `cols` per row."""
    n, h, w, c = images.shape
    rows = (n + cols - 1) // cols
    out = np.full((rows * (h + pad) + pad, cols * (w + pad) + pad, c), fill, np.uint8)
    for i, im in enumerate(images):
        r, k = divmod(i, cols)
        out[pad + r * (h + pad): pad + r * (h + pad) + h, pad + k * (w + pad): pad + k * (w + pad) + w] = im
    return out
