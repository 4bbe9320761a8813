"""Reconstruction quality: PSNR and SSIM per image (LPIPS comes from `losses.py` when available)."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def psnr(img_a: torch.Tensor, img_b: torch.Tensor) -> torch.Tensor:
    """Per-image PSNR in dB of `img` tensors in [-1, 1] (peak = full [0, 1] range): [N]."""
    mse = ((img_a.float() - img_b.float()) / 2).square().flatten(1).mean(1)
    return 10 * torch.log10(1 / mse.clamp_min(1e-10))


def _gaussian_window(size: int = 11, sigma: float = 1.5) -> torch.Tensor:
    x = torch.arange(size, dtype=torch.float32) - (size - 1) / 2
    g = torch.exp(-x.square() / (2 * sigma ** 2))
    return g / g.sum()


def ssim(img_a: torch.Tensor, img_b: torch.Tensor, window: int = 11) -> torch.Tensor:
    """Per-image SSIM (Gaussian window 11, sigma 1.5, on [0, 1] data, mean over channels): [N].

    Images smaller than the window use a window of their own size.
    """
    a, b = (img_a.float() + 1) / 2, (img_b.float() + 1) / 2
    window = min(window, a.shape[-1], a.shape[-2])
    g = _gaussian_window(window).to(a.device)
    c = a.shape[1]
    kx, ky = g.reshape(1, 1, 1, -1).repeat(c, 1, 1, 1), g.reshape(1, 1, -1, 1).repeat(c, 1, 1, 1)

    def blur(x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(F.conv2d(x, kx, groups=c), ky, groups=c)

    mu_a, mu_b = blur(a), blur(b)
    var_a = blur(a * a) - mu_a.square()
    var_b = blur(b * b) - mu_b.square()
    cov = blur(a * b) - mu_a * mu_b
    c1, c2 = 0.01 ** 2, 0.03 ** 2
    s = ((2 * mu_a * mu_b + c1) * (2 * cov + c2)) / ((mu_a.square() + mu_b.square() + c1) * (var_a + var_b + c2))
    return s.flatten(1).mean(1)


def image_metrics(img: torch.Tensor, target: torch.Tensor, distance) -> list[dict[str, float]]:
    """Per image of `img` [N, 3, R, R] against `target`: PSNR, SSIM and the run's `distance` (also under
    'lpips' when the distance is LPIPS), as every inversion result reports them."""
    dist = distance(img, target)
    metrics = [{"psnr": float(p), "ssim": float(s), "distance": float(d)}
               for p, s, d in zip(psnr(img, target), ssim(img, target), dist)]
    if distance.is_lpips:
        for m in metrics:
            m["lpips"] = m["distance"]
    return metrics
