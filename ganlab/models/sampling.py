"""Generating pictures from seeds: shared by the CLI's `sample`, the app and the benchmarks."""

from __future__ import annotations

from typing import Iterator

import numpy as np
import torch

from ganlab.errors import GanlabError
from ganlab.imaging import to_uint8
from ganlab.models.base import GanModel


def class_input(model: GanModel, class_name: str | int | None) -> torch.Tensor | None:
    """The class vector for a class-conditional model (by name or index); None for unconditional ones."""
    if hasattr(model, "class_vector"):
        if class_name is None or class_name == "":
            raise GanlabError("this model is class-conditional: choose a class (name or index)")
        return model.class_vector([class_name], 1)
    if class_name not in (None, ""):
        raise GanlabError("a class applies to class-conditional models (BigGAN) only")
    return None


@torch.no_grad()
def sample_images(model: GanModel, seeds: list[int], truncation: float = 1.0,
                  class_name: str | int | None = None) -> Iterator[tuple[int, np.ndarray]]:
    """Yield (seed, uint8 [H, W, 3]) per seed; the same seed always gives the same picture."""
    c = class_input(model, class_name)
    for seed in seeds:
        z = model.sample_z(1, seed=seed)
        img = model.synthesize(z, space="z", c=c, truncation=truncation)
        yield seed, to_uint8(img)[0]
