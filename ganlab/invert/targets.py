"""Turning a user's picture into a projection target the model's size, saying what was done to it."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from PIL import Image

from ganlab.align.images import ImageSource, load_image
from ganlab.errors import GanlabError
from ganlab.imaging import from_uint8

MIN_SIDE = 16


@dataclass
class Target:
    """`img` [1, 3, R, R] in [-1, 1], and `notes` on any crop/resize/conversion applied."""

    img: torch.Tensor
    notes: list[str]


def prepare_target(source: ImageSource, resolution: int, name: str | None = None) -> Target:
    """Load any image (RGBA, grayscale, 16-bit, EXIF-rotated ...), centre-crop to square, resize to `resolution`."""
    image = load_image(source, name=name)
    notes: list[str] = []
    w, h = image.size
    if min(w, h) < MIN_SIDE:
        raise GanlabError(f"the image is {w}x{h} px; at least {MIN_SIDE}x{MIN_SIDE} px is needed")
    if w != h:
        side = min(w, h)
        left, top = (w - side) // 2, (h - side) // 2
        image = image.crop((left, top, left + side, top + side))
        notes.append(f"centre-cropped from {w}x{h} to {side}x{side} (align faces first for best results)")
    if image.size[0] != resolution:
        verb = "upscaled" if image.size[0] < resolution else "downscaled"
        notes.append(f"{verb} from {image.size[0]} to {resolution} px")
        image = image.resize((resolution, resolution), Image.LANCZOS)
    return Target(from_uint8(np.asarray(image.convert("RGB"))), notes)
