"""Reference edits in pixel space: what a latent walk is trained (and measured) to reproduce.

Each transformation takes a magnitude whose range is in `TRANSFORMS`:

- `zoom`: scale factor about the image centre, 0.5..2.0 (> 1 zooms in, < 1 out; 1 = unchanged).
- `slide_left`, `slide_right`, `slide_up`, `slide_down`: shift as a fraction of the image width,
  -0.5..0.5 (negative moves the other way; 0 = unchanged).
- `brightness`: offset added to every channel, in units of the full [0, 1] range, -0.5..0.5.

Geometric edits leave pixels with no source (the border a slide shifts in, the frame around a
zoomed-out image); the returned mask is False there, so losses and measurements can ignore them.
Out-of-range magnitudes are clamped and the clamp is reported in `Edit.note`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from ganlab.errors import GanlabError

EDIT_LOSS_NAME = "masked L2 to the pixel edit"
# (dx, dy) of one unit of magnitude, in fractions of the image size (y down).
SLIDES: dict[str, tuple[float, float]] = {
    "slide_left": (-1.0, 0.0), "slide_right": (1.0, 0.0), "slide_up": (0.0, -1.0), "slide_down": (0.0, 1.0),
}


@dataclass(frozen=True)
class TransformSpec:
    """A transformation's magnitude range and how a walk parametrises it.

    `log_alpha`: the walk coordinate is log(magnitude) (zoom: zooming 2x twice is 4x), otherwise
    it is the magnitude itself; the walk coordinate of the identity is 0 either way.
    """

    name: str
    low: float
    high: float
    identity: float
    log_alpha: bool
    gallery: tuple[float, ...]            # magnitudes a gallery shows by default
    unit: str

    def alpha_range(self) -> tuple[float, float]:
        """Walk coordinates of the range's ends."""
        to_alpha = math.log if self.log_alpha else float
        return to_alpha(self.low), to_alpha(self.high)

    def label(self, magnitude: float) -> str:
        return f"{self.name} x{magnitude:.2f}" if self.unit == "x" else f"{self.name} {magnitude:+.2f}"


TRANSFORMS: dict[str, TransformSpec] = {
    "zoom": TransformSpec("zoom", 0.5, 2.0, 1.0, True, (0.7, 1.4), "x"),
    **{name: TransformSpec(name, -0.5, 0.5, 0.0, False, (0.15, 0.3), "width") for name in SLIDES},
    "brightness": TransformSpec("brightness", -0.5, 0.5, 0.0, False, (-0.2, 0.2), "range"),
}


@dataclass
class Edit:
    """`img` [N, C, H, W] edited, `mask` [N, 1, H, W] bool (True where defined), the magnitudes used [N]."""

    img: torch.Tensor
    mask: torch.Tensor
    magnitude: torch.Tensor
    note: str = ""


def spec(name: str) -> TransformSpec:
    """The named transformation, or a GanlabError listing the known ones."""
    if name not in TRANSFORMS:
        raise GanlabError(f"unknown transformation {name!r}; known: {', '.join(TRANSFORMS)}")
    return TRANSFORMS[name]


def clamp_magnitude(name: str, magnitude: float | torch.Tensor) -> tuple[torch.Tensor, str]:
    """Magnitudes [N] (or a scalar) clamped into the range, and a note saying so when any was outside."""
    s = spec(name)
    m = torch.as_tensor(magnitude, dtype=torch.float32).reshape(-1)
    clamped = m.clamp(s.low, s.high)
    note = ""
    if not torch.equal(clamped, m):
        bad = sorted({round(float(v), 4) for v in m[clamped != m]})
        note = (f"{name}: magnitude {', '.join(map(str, bad))} is outside {s.low}..{s.high}; "
                f"clamped to the range")
    return clamped, note


def edit(img: torch.Tensor, name: str, magnitude: float | torch.Tensor) -> Edit:
    """Apply transformation `name` to `img` [N, C, H, W] in [-1, 1], one magnitude for all or one per image."""
    if img.ndim != 4:
        raise GanlabError(f"img must be [N, C, H, W], got shape {tuple(img.shape)}")
    n = img.shape[0]
    m, note = clamp_magnitude(name, magnitude)
    if m.numel() not in (1, n):
        raise GanlabError(f"{m.numel()} magnitudes for {n} images; give one, or one per image")
    m = m.to(img.device).expand(n).contiguous()
    if name == "brightness":
        out = (img + 2 * m.view(n, 1, 1, 1).to(img.dtype)).clamp(-1, 1)
        return Edit(out, torch.ones(n, 1, *img.shape[2:], dtype=torch.bool, device=img.device), m, note)
    theta = _theta(name, m).to(img.dtype)
    grid = F.affine_grid(theta, list(img.shape), align_corners=False)
    out = F.grid_sample(img, grid, mode="bilinear", padding_mode="border", align_corners=False)
    ones = torch.ones(n, 1, *img.shape[2:], dtype=img.dtype, device=img.device)
    coverage = F.grid_sample(ones, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    return Edit(out, coverage > 0.999, m, note)


def masked_l2(img: torch.Tensor, target: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean squared error [N] over the pixels where `mask` [N, 1, H, W] is True: the walks' loss."""
    m = mask.to(img.dtype)
    return ((img - target).square() * m).flatten(1).sum(1) / (m.flatten(1).sum(1) * img.shape[1]).clamp_min(1.0)


def _theta(name: str, m: torch.Tensor) -> torch.Tensor:
    """Affine maps [N, 2, 3] from output to input coordinates (affine_grid's [-1, 1] units)."""
    theta = torch.zeros(m.shape[0], 2, 3, device=m.device)
    if name == "zoom":
        theta[:, 0, 0] = theta[:, 1, 1] = 1 / m
        return theta
    dx, dy = SLIDES[name]
    theta[:, 0, 0] = theta[:, 1, 1] = 1.0
    theta[:, 0, 2] = -2 * dx * m          # content moves by +d, so output x samples input x - d
    theta[:, 1, 2] = -2 * dy * m
    return theta
