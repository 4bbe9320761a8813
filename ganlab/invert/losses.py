"""The image distance that inversion minimises: LPIPS when its weights are available, else a fallback.

LPIPS (the `lpips` package, VGG backbone) downloads its torchvision backbone on first use. Where that
cannot happen (offline, no cached copy) inversion still runs, with a documented fallback distance:
mean squared error plus (1 - SSIM), both on [0, 1] images. `Distance.name` says which one is in use so
progress records and the UI can state it plainly.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import torch
import torch.nn.functional as F

from ganlab import settings
from ganlab.invert.metrics import ssim

FALLBACK_NAME = "fallback: MSE + (1 - SSIM)"
LPIPS_NAME = "LPIPS (VGG)"
LPIPS_SIZE = 256


@dataclass
class Distance:
    """A per-image distance [N] between `img` tensors in [-1, 1]; `why` explains a fallback."""

    name: str
    fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
    why: str = ""

    @property
    def is_lpips(self) -> bool:
        return self.name == LPIPS_NAME

    def __call__(self, img_a: torch.Tensor, img_b: torch.Tensor) -> torch.Tensor:
        return self.fn(downsample_256(img_a), downsample_256(img_b))


def downsample_256(img: torch.Tensor) -> torch.Tensor:
    """Area-downsample images larger than 256 px, as the official projector does before VGG."""
    if img.shape[-1] > LPIPS_SIZE:
        return F.interpolate(img, size=(LPIPS_SIZE, LPIPS_SIZE), mode="area")
    return img


def fallback_distance(img_a: torch.Tensor, img_b: torch.Tensor) -> torch.Tensor:
    mse = ((img_a - img_b) / 2).square().flatten(1).mean(1)
    return mse + (1 - ssim(img_a, img_b))


_cache: dict[str, Distance] = {}
_lock = threading.Lock()


def _vgg_weights_cached() -> bool:
    checkpoints = Path(torch.hub.get_dir()) / "checkpoints"
    return checkpoints.is_dir() and any(f.name.startswith("vgg16-") for f in checkpoints.iterdir())


def lpips_distance(device: torch.device | str = "cpu") -> Distance:
    """LPIPS-VGG if it can be built (weights cached, or downloadable when online), else the fallback."""
    device = torch.device(device)
    key = str(device)
    with _lock:
        if key in _cache:
            return _cache[key]
        if settings.offline() and not _vgg_weights_cached():
            dist = Distance(FALLBACK_NAME, fallback_distance,
                            "LPIPS needs torchvision's VGG16 weights, which are not cached, and GANLAB_OFFLINE is set")
        else:
            dist = _build_lpips(device)
        _cache[key] = dist
        return dist


def _build_lpips(device: torch.device) -> Distance:
    try:
        import lpips

        net = lpips.LPIPS(net="vgg", verbose=False).to(device).eval().requires_grad_(False)
    except Exception as err:  # any download or load failure: the product must still run
        return Distance(FALLBACK_NAME, fallback_distance,
                        f"LPIPS could not load its VGG16 weights ({type(err).__name__}: {str(err)[:120]})")
    return Distance(LPIPS_NAME, lambda a, b: net(a, b).flatten())
