"""Learned latent walks ("On the steerability of GANs", Jahanian et al., 2020).

For each transformation t, one vector w_t in z space is trained so that G(z + alpha * w_t, c) looks
like edit(G(z, c), magnitude(alpha)) on the pixels the edit defines (masked L2), for random z, c and
alpha drawn uniformly over the transformation's range: alpha = magnitude, or log(magnitude) for zoom,
so that alpha = 0 is always the identity and zooms compose additively. All transformations train
together, one generator batch per step. The model is never modified (gradients are taken for the
walks only), so a shared model can keep serving while walks train.

How far one step along z moves the picture depends on the class: on toyobjects-64 a shared slide walk
moves some classes twice as far as others. So a walk may also carry a per-class offset, and the step
for class vector c is w_t + c @ offsets_t (a mixture of classes mixes offsets; classes never seen in
training keep offset 0, the shared walk).

Walks are saved as `.npz`: `vectors` [T, z_dim], `class_offsets` [T, num_classes, z_dim] when per
class, and `meta`, a JSON string naming the model, the transformations, their alpha parametrisation
and range, and the run that made them.
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ganlab.augment.transforms import EDIT_LOSS_NAME, clamp_magnitude
from ganlab.errors import GanlabError, ShapeError
from ganlab.fileio import write_atomically
from ganlab.models.base import check_shape
from ganlab.models.biggan import BigGANModel
from ganlab.models.folder import WALKS, helper_path

FORMAT = 2
READS = (1, 2)      # format 1: shared walks only


@dataclass
class Walk:
    """One transformation's direction `vector` [z_dim], its optional `class_offsets` [num_classes, z_dim],
    and how magnitudes map to steps along it."""

    transform: str
    vector: np.ndarray
    alpha: str                              # 'magnitude' or 'log(magnitude)'
    alpha_range: tuple[float, float]
    loss: float = float("nan")              # final training loss (mean of the last steps)
    class_offsets: np.ndarray | None = None

    def alpha_of(self, magnitude: torch.Tensor) -> torch.Tensor:
        return torch.log(magnitude) if self.alpha == "log(magnitude)" else magnitude

    def step(self, c: torch.Tensor | None, like: torch.Tensor) -> torch.Tensor:
        """The direction [N or 1, z_dim] for class vectors `c` [N or 1, num_classes], on `like`'s device."""
        vector = torch.from_numpy(self.vector).to(like.device, like.dtype)[None]
        if self.class_offsets is None:
            return vector
        if c is None:
            raise GanlabError(f"the {self.transform} walk depends on the class: give the class vector c")
        check_shape("c", c, [None, self.class_offsets.shape[0]])
        if c.shape[0] not in (1, like.shape[0]):
            raise ShapeError(f"c has {c.shape[0]} rows for {like.shape[0]} latents; give one row per latent or one")
        return vector + c.to(like.device, like.dtype) @ torch.from_numpy(self.class_offsets).to(like.device, like.dtype)


@dataclass
class WalkSet:
    """The walks trained for one model, with what is needed to judge and reproduce them."""

    model_id: str
    z_dim: int
    walks: dict[str, Walk]
    truncation: float = 1.0
    run: dict[str, Any] = field(default_factory=dict)   # steps, batch, lr, seed, seconds; started_from: the init's

    def shifted(self, z: torch.Tensor, name: str, magnitude: float | torch.Tensor,
                c: torch.Tensor | None = None) -> tuple[torch.Tensor, str]:
        """`z` [N, z_dim] of class vectors `c` [N or 1, num_classes] (needed by per-class walks) moved along
        walk `name` by `magnitude` (one, or one per row); and a note on clamping."""
        if name not in self.walks:
            raise GanlabError(f"no learned walk for {name!r} for {self.model_id}; have: {', '.join(self.walks)}")
        walk = self.walks[name]
        m, note = clamp_magnitude(name, magnitude)
        alpha = walk.alpha_of(m).to(z.device, z.dtype).reshape(-1, 1)
        return z + alpha * walk.step(c, z), note


def default_walks_path(model: BigGANModel) -> Path:
    """Where `model`'s walks live: walks.npz in its folder."""
    return helper_path(model, WALKS)


def save_walks(walks: WalkSet, path: str | Path) -> Path:
    """Write the walks file, whole or not at all (`--init` may name the file being written)."""
    meta = {"format": FORMAT, "model": walks.model_id, "z_dim": walks.z_dim, "truncation": walks.truncation,
            "loss": EDIT_LOSS_NAME, "run": walks.run,
            "transforms": [{"name": w.transform, "alpha": w.alpha, "alpha_range": list(w.alpha_range),
                            "loss": w.loss} for w in walks.walks.values()]}
    arrays = {"vectors": np.stack([w.vector for w in walks.walks.values()]).astype(np.float32)}
    offsets = [w.class_offsets for w in walks.walks.values()]
    if any(o is not None for o in offsets):
        shape = next(o.shape for o in offsets if o is not None)
        arrays["class_offsets"] = np.stack([np.zeros(shape) if o is None else o for o in offsets]).astype(np.float32)
    buf = io.BytesIO()
    np.savez(buf, **arrays, meta=np.array(json.dumps(meta)))
    return write_atomically(path, buf.getvalue())


def load_walks(path: str | Path, model: BigGANModel | None = None, own: bool = False) -> WalkSet:
    """Walks from `path`; refused (GanlabError) when they were trained for another model than `model`
    (`own`: the file is in `model`'s folder, so only the sizes must agree)."""
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as data:
            vectors, meta = data["vectors"], json.loads(str(data["meta"]))
            offsets = data["class_offsets"] if "class_offsets" in data else None
        entries = meta["transforms"]
        if offsets is not None and (offsets.ndim != 3 or offsets.shape[0] != len(entries)
                                    or offsets.shape[2] != vectors.shape[1]):
            raise ValueError(f"class_offsets has shape {list(offsets.shape)} for {len(entries)} walks "
                             f"of z_dim {vectors.shape[1]}")
        walks = {e["name"]: Walk(e["name"], vectors[i].astype(np.float32), e["alpha"], tuple(e["alpha_range"]),
                                 float(e["loss"]), None if offsets is None else offsets[i].astype(np.float32))
                 for i, e in enumerate(entries)}
        result = WalkSet(meta["model"], int(meta["z_dim"]), walks, float(meta["truncation"]), meta.get("run", {}))
    except FileNotFoundError:
        raise GanlabError(f"no walks file at {path}") from None
    except (OSError, ValueError, KeyError, IndexError, TypeError) as err:
        raise GanlabError(f"{path} is not a ganlab walks file ({type(err).__name__}: {err})") from err
    if meta.get("format") not in READS:
        raise GanlabError(f"{path} has walks format {meta.get('format')}, this ganlab reads formats {READS}")
    classes = None if offsets is None else offsets.shape[1]
    if model is not None and own:
        result.model_id = model.name
    if model is not None and (result.model_id != model.name or result.z_dim != model.z_dim
                              or classes not in (None, model.num_classes)):
        per_class = "" if classes is None else f", {classes} classes"
        raise GanlabError(f"the walks in {path} were trained for {result.model_id!r} "
                          f"(z_dim {result.z_dim}{per_class}), not {model.name!r} "
                          f"(z_dim {model.z_dim}, {model.num_classes} classes); train them with "
                          f"`python -m ganlab train-walks --model {model.name}`")
    return result
