"""The one interface that inversion, editing and the UI use for every generator.

Conventions (everywhere in ganlab):
- `img` is a float tensor in [-1, 1], NCHW, RGB.
- `z` is [N, z_dim]; `w` is [N, w_dim]; `ws` is [N, num_ws, w_dim].
- BigGAN's class input `c` is [N, num_classes] (one-hot or a mixture of classes).
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol, runtime_checkable

import torch

from ganlab.errors import ShapeError

W_SPACES = ("w", "w+")      # StyleGAN2's: one w, or one per layer
SPACES = ("z", *W_SPACES)


@runtime_checkable
class GanModel(Protocol):
    """What every generator offers; `kind` tells StyleGAN2 ('stylegan2') from BigGAN ('biggan')."""

    kind: str
    name: str
    folder: Path | None                       # where its helpers live (ganlab.models.folder)
    resolution: int
    spaces: tuple[str, ...]
    z_dim: int
    num_classes: int

    @property
    def device(self) -> torch.device: ...

    def sample_z(self, n: int, seed: int | None = None) -> torch.Tensor:
        """`z` [n, z_dim] drawn from the model's prior, reproducibly when `seed` is given."""

    def synthesize(self, latent: torch.Tensor, space: str = "z", c: torch.Tensor | None = None,
                   truncation: float = 1.0) -> torch.Tensor:
        """`img` [N, 3, resolution, resolution] in [-1, 1] from a latent in `space`."""

    def mean_latent(self, space: str) -> torch.Tensor:
        """The centre of `space` as [1, ...] (e.g. `w_avg` for StyleGAN2's w)."""

    def to(self, device: torch.device | str | None = None, dtype: torch.dtype | None = None) -> "GanModel": ...

    def save(self, folder: Path | str) -> Path:
        """Write the generator as a ganlab model folder that `load_checkpoint` reads back."""


def check_shape(name: str, tensor: torch.Tensor, expected: list[int | None]) -> None:
    """Raise `ShapeError` naming `name` unless `tensor` has `expected` shape (None = any size)."""
    shape = list(tensor.shape)
    ok = len(shape) == len(expected) and all(e is None or e == s for s, e in zip(shape, expected))
    if not ok:
        want = "[" + ", ".join("N" if e is None else str(e) for e in expected) + "]"
        raise ShapeError(f"{name} has shape {shape}, expected {want}")


def seeded_randn(shape: tuple[int, ...], seed: int | None, device: torch.device | str = "cpu") -> torch.Tensor:
    """Standard normal samples; the same `seed` gives the same numbers on every device."""
    gen = torch.Generator().manual_seed(seed) if seed is not None else None
    return torch.randn(shape, generator=gen).to(device)
