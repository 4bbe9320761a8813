"""The directions on offer for a model: shipped learned ones, and GANSpace / SeFa computed on first use."""

from __future__ import annotations

import threading

from ganlab.edit.directions import Direction, ganspace, load_directions, sefa, shipped_path
from ganlab.errors import GanlabError
from ganlab.models.folder import DIRECTIONS, has_helper
from ganlab.models.stylegan2_model import StyleGAN2Model

SOURCES = ("learned", "ganspace", "sefa")
COMPONENTS = 8

_cache: dict[tuple[str, str], list[Direction]] = {}
_lock = threading.Lock()


def directions_for(model: StyleGAN2Model, source: str) -> list[Direction]:
    """Directions of `source` for `model` (cached per model name); learned ones may be an empty list."""
    if source not in SOURCES:
        raise GanlabError(f"direction source must be one of {SOURCES}, got {source!r}")
    key = (model.name, source)
    with _lock:
        if key not in _cache:
            _cache[key] = _compute(model, source)
        return _cache[key]


def _compute(model: StyleGAN2Model, source: str) -> list[Direction]:
    if source == "ganspace":
        return ganspace(model, n_samples=5000, n_components=COMPONENTS)
    if source == "sefa":
        return sefa(model, n_components=COMPONENTS)
    if not has_helper(model, DIRECTIONS):
        return []
    return load_directions(shipped_path(model), model.name, model.w_dim, own=True)
