"""Moving latents along directions: w' = w + sum_i alpha_i * sigma_i * d_i on chosen layers, and rendering it.

Alphas are in sigma units (the std of sampled w along each direction), so one slider range suits
every direction. Layers are ws indices: coarse layers steer pose and shape, fine ones colour and texture.
"""

from __future__ import annotations

import threading
from typing import Sequence, Union

import numpy as np
import torch

from ganlab.edit.directions import Direction
from ganlab.errors import GanlabError, ShapeError
from ganlab.models.base import check_shape
from ganlab.models.stylegan2 import SynthesisCache
from ganlab.models.stylegan2_model import StyleGAN2Model
from ganlab.models.tuned import TunedWeights, through

# Fractions of num_ws: [start, stop) of each preset, rounded to whole layers.
LAYER_PRESETS: dict[str, tuple[float, float]] = {
    "coarse": (0.0, 0.3),
    "middle": (0.3, 0.6),
    "fine": (0.6, 1.0),
    "all": (0.0, 1.0),
}

# A preset name, (start, stop) as a half-open range, a list or range of indices, or None for all.
Layers = Union[str, tuple[int, int], list[int], range, None]


def layer_indices(layers: Layers, num_ws: int) -> list[int]:
    """The ws indices that `layers` names for a generator with `num_ws` ws."""
    if layers is None:
        return list(range(num_ws))
    if isinstance(layers, str):
        if layers not in LAYER_PRESETS:
            raise GanlabError(f"unknown layer preset {layers!r}; presets: {', '.join(LAYER_PRESETS)}")
        lo, hi = (int(f * num_ws + 0.5) for f in LAYER_PRESETS[layers])
        if lo >= hi:
            raise GanlabError(f"layer preset {layers!r} is empty for a generator with {num_ws} ws")
        return list(range(lo, hi))
    if isinstance(layers, tuple):
        if len(layers) != 2:
            raise GanlabError(f"a layer range is (start, stop), got {layers}; pass a list for single indices")
        start, stop = layers
        if not 0 <= start < stop <= num_ws:  # checked before any list is built: the range may be huge
            raise GanlabError(f"layers {layers} do not select ws indices within 0..{num_ws - 1}")
        indices = list(range(start, stop))
    else:
        indices = sorted({int(i) for i in layers})
    if not indices or indices[0] < 0 or indices[-1] >= num_ws:
        raise GanlabError(f"layers {layers} do not select ws indices within 0..{num_ws - 1}")
    return indices


def edit_ws(ws: torch.Tensor, directions: Direction | Sequence[Direction], alphas: float | Sequence[float],
            layers: Layers = None) -> torch.Tensor:
    """`ws` [N, num_ws, w_dim] moved by alpha_i * sigma_i * d_i on `layers` (default: each direction's own
    layers, else all). Returns a new tensor; `ws` is left as it was."""
    dirs = [directions] if isinstance(directions, Direction) else list(directions)
    alphas = [float(alphas)] * len(dirs) if np.ndim(alphas) == 0 else [float(a) for a in alphas]
    if len(alphas) != len(dirs):
        raise GanlabError(f"{len(dirs)} directions but {len(alphas)} alphas")
    ws = torch.as_tensor(ws)
    if ws.ndim != 3 or not ws.is_floating_point():
        raise ShapeError(f"ws has shape {list(ws.shape)}, expected a float tensor [N, num_ws, w_dim]")
    out = ws.clone()
    for d, alpha in zip(dirs, alphas):
        if d.w_dim != ws.shape[2]:
            raise ShapeError(f"ws has w_dim {ws.shape[2]} but direction '{d.name}' has w_dim {d.w_dim}")
        chosen = layers if layers is not None else (None if d.layers is None else list(d.layers))
        idx = layer_indices(chosen, ws.shape[1])
        step = torch.as_tensor(d.vector, dtype=ws.dtype, device=ws.device) * (alpha * d.sigma)
        out[:, idx] += step
    return out


def _own_directions(model: StyleGAN2Model, directions: Direction | Sequence[Direction]) -> list[Direction]:
    dirs = [directions] if isinstance(directions, Direction) else list(directions)
    foreign = [d.name for d in dirs if d.model_id != model.name]
    if foreign:
        raise GanlabError(f"directions {foreign} were made for another model, not '{model.name}'")
    return dirs


@torch.inference_mode()
def render_edit(model: StyleGAN2Model, ws: torch.Tensor, directions: Direction | Sequence[Direction] = (),
                alphas: float | Sequence[float] = (), layers: Layers = None, noise_mode: str = "const",
                cache: SynthesisCache | None = None) -> torch.Tensor:
    """`img` [N, 3, R, R] of `ws` edited by `edit_ws`; refuses directions found in another model.

    Pass the same `cache` for successive edits of one latent: each render then starts at the first
    block whose ws the edit changed (an edit of the fine layers skips the coarse blocks).
    """
    check_shape("ws", ws, [None, model.num_ws, model.w_dim])
    dirs = _own_directions(model, directions)
    edited = edit_ws(ws.to(model.device), dirs, alphas, layers)
    return model.synthesize(edited, space="w+", noise_mode=noise_mode, cache=cache)


class EditRenderer:
    """Slider edits of one latent `ws` [N, num_ws, w_dim]: the original rendered once, and each edit
    from the first block its layers reach (the blocks before reuse the previous render's features).
    A latent with `tuned` weights is rendered, edits included, through its own private generator."""

    def __init__(self, model: StyleGAN2Model, ws: torch.Tensor, noise_mode: str = "const",
                 tuned: TunedWeights | None = None):
        check_shape("ws", ws, [None, model.num_ws, model.w_dim])
        self.model, self.ws, self.noise_mode, self.tuned = model, ws.to(model.device), noise_mode, tuned
        self._renders = through(model, tuned)
        self._cache = SynthesisCache()
        self._lock = threading.Lock()  # one render at a time: the cache belongs to the last one
        self.original = render_edit(self._renders, self.ws, noise_mode=noise_mode, cache=self._cache)

    def matches(self, model: StyleGAN2Model, ws: torch.Tensor, tuned: TunedWeights | None = None) -> bool:
        """Whether this renderer edits `ws` of `model` with `tuned` weights (so a caller may keep it)."""
        return (model is self.model and tuned is self.tuned and ws.shape == self.ws.shape
                and torch.equal(ws.to(self.ws.device), self.ws))

    def render(self, directions: Direction | Sequence[Direction] = (), alphas: float | Sequence[float] = (),
               layers: Layers = None) -> tuple[torch.Tensor, torch.Tensor]:
        """(edited ws, its `img` [N, 3, R, R]); no direction or all-zero alphas give the original."""
        dirs = _own_directions(self.model, directions)
        edited = edit_ws(self.ws, dirs, alphas, layers)
        if torch.equal(edited, self.ws):
            return edited, self.original
        with self._lock:
            return edited, render_edit(self._renders, edited, noise_mode=self.noise_mode, cache=self._cache)
