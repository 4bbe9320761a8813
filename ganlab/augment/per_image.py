"""Per-image edits when no learned walk exists: optimise z' so that G(z', c) matches the pixel edit.

Starting from z itself, Adam moves z' towards edit(G(z, c), magnitude) on the pixels the edit defines
(masked L2, the walks' loss). The latent difference z' - z is the image's own walk step for that
magnitude. Slower than a walk (an optimisation per image instead of one addition) but needs no
training; z' is kept in the truncation range by clamping, so it stays a valid BigGAN input.
"""

from __future__ import annotations

import math
import threading
import time
from dataclasses import dataclass
from typing import Iterator

import numpy as np
import torch

from ganlab.augment.transforms import EDIT_LOSS_NAME, edit, masked_l2
from ganlab.errors import GanlabError
from ganlab.imaging import to_uint8
from ganlab.invert.projector import ProjectionStep
from ganlab.models.biggan import Z_BOUND, BigGANModel



@dataclass
class EditResult:
    """`z` [N, z_dim] edited latents, `delta` = z - the input z, images and the final loss per image."""

    z: torch.Tensor
    delta: torch.Tensor
    images: np.ndarray
    losses: list[float]
    steps_run: int
    note: str = ""            # a clamped magnitude is reported here
    stopped: str = ""


def optimise_edit(model: BigGANModel, z: torch.Tensor, c: torch.Tensor, name: str,
                  magnitude: float | torch.Tensor, steps: int = 60, lr: float = 0.05, truncation: float = 1.0,
                  cancel: threading.Event | None = None) -> Iterator[ProjectionStep | EditResult]:
    """Edit each G(z[i], c[i]) by `name` (one magnitude, or one per row) through its latent."""
    if steps < 1:
        raise GanlabError("steps must be at least 1")
    bound = Z_BOUND * truncation
    with torch.no_grad():
        target = edit(model.synthesize(z, c=c, truncation=truncation), name, magnitude)
    moved = z.detach().clone().requires_grad_(True)
    optimizer = torch.optim.Adam([moved], lr=lr)
    started, stopped, done, loss = time.perf_counter(), "", 0, None
    for step in range(steps):
        if cancel is not None and cancel.is_set():
            stopped = "cancelled"
            break
        loss = masked_l2(model.synthesize(moved, c=c, truncation=truncation), target.img, target.mask)
        (moved.grad,) = torch.autograd.grad(loss.sum(), [moved])
        optimizer.step()
        with torch.no_grad():
            moved.clamp_(-bound, bound)
        done = step + 1
        mean = loss.mean().item()
        if not math.isfinite(mean):
            stopped = f"stopped at step {done}: the loss became NaN/inf (try a lower learning rate)"
            break
        yield ProjectionStep(step=done, total=steps, losses={"edit": mean}, distance_name=EDIT_LOSS_NAME,
                             eta_s=(time.perf_counter() - started) / done * (steps - done), note=target.note)
    with torch.no_grad():
        img = model.synthesize(moved, c=c, truncation=truncation)
        final = masked_l2(img, target.img, target.mask)
    yield EditResult(z=moved.detach(), delta=(moved - z).detach(), images=to_uint8(img.clamp(-1, 1)),
                     losses=final.tolist(), steps_run=done, note=target.note, stopped=stopped)


def edit_latents(model: BigGANModel, z: torch.Tensor, c: torch.Tensor, name: str, magnitude: float | torch.Tensor,
                 steps: int = 60, truncation: float = 1.0) -> EditResult:
    """`optimise_edit` run to the end, for callers that need only the result."""
    result = None
    for rec in optimise_edit(model, z, c, name, magnitude, steps=steps, truncation=truncation):
        result = rec
    return result
