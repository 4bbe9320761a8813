"""Edit directions in a StyleGAN2's W space: learned from labelled latents (InterFaceGAN), found without
labels (GANSpace, SeFa), conditioned on one another, and saved together with the model they belong to.

A direction is a unit vector d in W plus `sigma`, the spread of sampled w along d. Sliders move in
sigma units, so "+3" means three standard deviations of the model's own latents whatever the direction.
A learned direction also keeps its SVM's normal: the attribute's boundary, which conditioning holds.
"""

from __future__ import annotations

import io
import json
import threading
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Iterator, Mapping, Sequence

import numpy as np
import torch
from sklearn.model_selection import StratifiedKFold, cross_validate
from sklearn.svm import LinearSVC

from ganlab.errors import GanlabError, ShapeError
from ganlab.fileio import write_atomically
from ganlab.invert.losses import Distance
from ganlab.invert.projector import ProjectionConfig, ProjectionResult, project
from ganlab.models.base import W_SPACES
from ganlab.models.stylegan2 import FullyConnectedLayer, Generator
from ganlab.models.stylegan2_model import StyleGAN2Model

SOURCES = ("svm", "ganspace", "sefa", "user", "text", "trained")  # text: from a phrase; trained: against a scorer
SPACES = W_SPACES  # a direction moves w or ws
MIN_GROUP = 10               # fewer labelled latents than this in a group: warn
MIN_ACCURACY = 0.7           # cross-validated accuracy below this: warn "not separable"
FILE_FORMAT = "ganlab-directions"
FILE_VERSION = 2           # 2 adds `normals`; version 1 files still load
SHIPPED_ATTRIBUTES = ("smile", "sunglasses", "eyeglasses", "beard", "bald", "long_hair", "dark_skin",
                      "hair_black", "hair_blond", "hair_grey")

Latents = torch.Tensor | np.ndarray


@dataclass(eq=False)
class Direction:
    """A unit vector in W (`vector` [w_dim]) for one model, with the default layers it edits (None = all)."""

    name: str
    vector: np.ndarray
    model_id: str
    space: str = "w"                          # where it was found: 'w' or 'w+' latents
    layers: tuple[int, ...] | None = None     # ws indices edited by default
    source: str = "user"                      # one of SOURCES
    accuracy: float | None = None             # cross-validated accuracy of the SVM that found it
    sigma: float = 1.0                        # std of sampled w along `vector`: the slider unit
    metadata: dict[str, Any] = field(default_factory=dict)
    normal: np.ndarray | None = None          # unit normal [w_dim] of the SVM boundary that found it

    def __post_init__(self) -> None:
        v = self.vector.detach().cpu().numpy() if isinstance(self.vector, torch.Tensor) else np.asarray(self.vector)
        v = v.astype(np.float64)
        if v.ndim != 1 or not np.isfinite(v).all():
            raise ShapeError(f"direction '{self.name}': vector must be a finite [w_dim] array, "
                             f"got shape {list(v.shape)}")
        norm = np.linalg.norm(v)
        if norm < 1e-12:
            raise GanlabError(f"direction '{self.name}' has a zero vector")
        self.vector = (v / norm).astype(np.float32)
        if self.normal is not None:
            n = np.asarray(self.normal, np.float64)
            if n.shape != v.shape or not np.isfinite(n).all() or np.linalg.norm(n) < 1e-12:
                raise ShapeError(f"direction '{self.name}': normal must be a finite non-zero [{v.shape[0]}] array")
            self.normal = (n / np.linalg.norm(n)).astype(np.float32)
        if self.space not in SPACES:
            raise GanlabError(f"direction '{self.name}': space must be one of {SPACES}, got {self.space!r}")
        if self.source not in SOURCES:
            raise GanlabError(f"direction '{self.name}': source must be one of {SOURCES}, got {self.source!r}")
        if not (np.isfinite(self.sigma) and self.sigma > 0):
            raise GanlabError(f"direction '{self.name}': sigma must be positive, got {self.sigma}")
        self.sigma = float(self.sigma)
        if self.layers is not None:
            self.layers = tuple(sorted({int(i) for i in self.layers}))

    @property
    def w_dim(self) -> int:
        return int(self.vector.shape[0])


@dataclass
class LearnReport:
    """How well a labelled boundary was found; `warnings` are sentences to show the user as they are."""

    name: str
    n_pos: int
    n_neg: int
    folds: int                                # fewer than asked when a group is smaller than that
    cv_accuracy: float
    cv_balanced_accuracy: float               # mean of the per-class accuracies: honest for rare attributes
    train_accuracy: float
    warnings: list[str] = field(default_factory=list)


def _as_w(latents: Latents, what: str) -> np.ndarray:
    """[N, w_dim] float64 from w [N, w_dim] or ws [N, num_ws, w_dim] (averaged over layers)."""
    x = latents.detach().cpu().numpy() if isinstance(latents, torch.Tensor) else np.asarray(latents)
    if x.ndim == 3:
        x = x.mean(axis=1)
    if x.ndim != 2:
        raise ShapeError(f"{what} has shape {list(x.shape)}, expected [N, w_dim] or [N, num_ws, w_dim]")
    return x.astype(np.float64)


def _reference(latents: Latents, name: str) -> np.ndarray:
    """Latents whose spread sets the slider unit (and the conditioning metric): at least 2 of them."""
    ref = _as_w(latents, "reference")
    if len(ref) < 2:
        raise GanlabError(f"'{name}': the reference needs at least 2 latents to measure their spread")
    return ref


def _sigma(reference: np.ndarray, vector: np.ndarray) -> float:
    return float(np.std(reference @ vector.astype(np.float64)))


def learn_direction(latents_pos: Latents, latents_neg: Latents, name: str, model_id: str, space: str = "w",
                    layers: Sequence[int] | None = None, reference: Latents | None = None, folds: int = 5,
                    c: float = 1.0, seed: int = 0) -> tuple[Direction, LearnReport]:
    """Linear SVM between two groups of latents; the direction is its normal's activation pattern.

    W is far from isotropic, and a maximum-margin normal leans on the directions in which latents hardly
    vary: moving along it barely changes the picture. The pattern, cov(latents) @ normal (Haufe et al.
    2014), is the direction along which the latents themselves differ between the groups; on the bundled
    faces it flips sunglasses for 93% of faces at +3 sigma where the bare normal flips 2%. The covariance
    and `sigma` come from `reference` (sampled w: the model's own spread) or, without it, from the
    labelled latents. w+ latents are averaged over layers. Classes are weighted to balance, so a rare
    attribute is not drowned by its absence.
    """
    pos, neg = _as_w(latents_pos, "latents_pos"), _as_w(latents_neg, "latents_neg")
    if pos.shape[1] != neg.shape[1]:
        raise ShapeError(f"latents_pos has w_dim {pos.shape[1]} but latents_neg has {neg.shape[1]}")
    if len(pos) < 2 or len(neg) < 2:
        raise GanlabError(f"'{name}': need at least 2 latents in each group (got {len(pos)} with, "
                          f"{len(neg)} without)")
    if folds < 2:
        raise GanlabError(f"cross-validation needs at least 2 folds, got {folds}")
    warnings = [f"'{name}': only {n} {label} examples (fewer than {MIN_GROUP}); the direction is a rough guess"
                for label, n in (("positive", len(pos)), ("negative", len(neg))) if n < MIN_GROUP]
    x = np.concatenate([pos, neg])
    y = np.concatenate([np.ones(len(pos), int), np.zeros(len(neg), int)])
    # Centre and apply one global scale: the SVM converges well, and the normal keeps its direction in W.
    x = (x - x.mean(0)) / (x.std() + 1e-12)
    svm = LinearSVC(C=c, class_weight="balanced", max_iter=20000)
    k = min(folds, len(pos), len(neg))  # stratified folds need a member of each group
    scores = cross_validate(svm, x, y, cv=StratifiedKFold(k, shuffle=True, random_state=seed),
                            scoring=("accuracy", "balanced_accuracy"))
    cv_acc, cv_bal = float(scores["test_accuracy"].mean()), float(scores["test_balanced_accuracy"].mean())
    if min(cv_acc, cv_bal) < MIN_ACCURACY:
        warnings.append(f"'{name}': cross-validated accuracy {min(cv_acc, cv_bal):.2f} is below {MIN_ACCURACY}: "
                        "the groups are not separable in W, so this direction is unreliable")
    svm.fit(x, y)
    sigma_ref = _reference(np.concatenate([pos, neg]) if reference is None else reference, name)
    pattern = np.cov(sigma_ref, rowvar=False) @ svm.coef_[0]
    if np.linalg.norm(pattern) < 1e-12:
        raise GanlabError(f"'{name}': the latents do not vary along the boundary's normal; no direction to edit")
    pattern = pattern / np.linalg.norm(pattern)
    direction = Direction(name, pattern, model_id, space=space, layers=None if layers is None else tuple(layers),
                          source="svm", accuracy=cv_acc, sigma=_sigma(sigma_ref, pattern),
                          metadata={"n_pos": len(pos), "n_neg": len(neg), "cv_folds": k,
                                    "cv_balanced_accuracy": cv_bal, "warnings": list(warnings)},
                          normal=svm.coef_[0])
    report = LearnReport(name, len(pos), len(neg), k, cv_acc, cv_bal, float(svm.score(x, y)), warnings)
    return direction, report


def learn_one_vs_rest(groups: Mapping[str, Latents], model_id: str,
                      **kwargs: Any) -> list[tuple[Direction, LearnReport]]:
    """One direction per group (e.g. hair colours), each separating that group from all the others."""
    if len(groups) < 2:
        raise GanlabError(f"one-vs-rest needs at least 2 groups, got {len(groups)}")
    named = {name: _as_w(lat, f"latents of '{name}'") for name, lat in groups.items()}
    return [learn_direction(lat, np.concatenate([o for other, o in named.items() if other != name]), name,
                            model_id, **kwargs) for name, lat in named.items()]


@dataclass
class LearnProgress:
    """`learn_from_images` is projecting images `first`..`first + count - 1` of `images_total`."""

    first: int
    count: int
    images_total: int
    step: int
    total: int
    distance: float


@dataclass
class LearnedDirection:
    """The end of `learn_from_images`: the direction, its report, and the projected ws of both groups."""

    direction: Direction
    report: LearnReport
    ws_pos: torch.Tensor
    ws_neg: torch.Tensor


def learn_from_images(model: StyleGAN2Model, images_pos: torch.Tensor, images_neg: torch.Tensor, name: str,
                      config: ProjectionConfig | None = None, batch_size: int = 16, distance: Distance | None = None,
                      sigma_samples: int = 2000, cancel: threading.Event | None = None,
                      **learn_kwargs: Any) -> Iterator[LearnProgress | LearnedDirection]:
    """Project `img` batches with and without an attribute, then `learn_direction` on their latents.

    Yields `LearnProgress` during projection (the long part) and one `LearnedDirection` last; ends
    without one if `cancel` is set. The direction's space is the projection's ('w' or 'w+').
    """
    if len(images_pos) < 2 or len(images_neg) < 2:
        raise GanlabError(f"'{name}': need at least 2 images in each group (got {len(images_pos)} with, "
                          f"{len(images_neg)} without)")
    cfg = config or ProjectionConfig(num_steps=100, preview_every=0, w_avg_samples=2000)
    images = torch.cat([images_pos, images_neg])
    ws = []
    for first in range(0, len(images), batch_size):
        chunk = images[first:first + batch_size]
        for rec in project(model, chunk, cfg, distance=distance, cancel=cancel):
            if isinstance(rec, ProjectionResult):
                if rec.stopped == "cancelled":
                    return
                ws.append(rec.ws)
            else:
                yield LearnProgress(first, len(chunk), len(images), rec.step, rec.total, rec.losses["distance"])
    ws_all = torch.cat(ws)
    ws_pos, ws_neg = ws_all[:len(images_pos)], ws_all[len(images_pos):]
    direction, report = learn_direction(ws_pos, ws_neg, name, model.name, space=cfg.space,
                                        reference=sample_w(model, sigma_samples), **learn_kwargs)
    direction.metadata["projection_steps"] = cfg.num_steps
    yield LearnedDirection(direction, report, ws_pos, ws_neg)


def condition(direction: Direction, others: Sequence[Direction], reference: Latents | None = None) -> Direction:
    """`direction` changed as little as possible so that moving along it leaves `others` alone (e.g. "beard,
    not hair colour"), renormalised.

    "Alone" means: a learned direction's SVM score (its `normal`) stays put, as in InterFaceGAN's
    conditional editing; a direction without a normal (GANSpace, SeFa, a user's vector) keeps its own
    coordinate. With `reference` latents the change is measured in their spread (Mahalanobis), so the
    result keeps to directions in which latents vary, as the activation pattern does; without, it is the
    plain orthogonal projection. `sigma` is re-measured on `reference` when given.
    """
    for other in others:
        if other.w_dim != direction.w_dim:
            raise ShapeError(f"cannot condition '{direction.name}' (w_dim {direction.w_dim}) on '{other.name}' "
                             f"(w_dim {other.w_dim})")
    d = direction.vector.astype(np.float64)
    ref = None if reference is None else _reference(reference, direction.name)
    if others:
        held = np.stack([(o.vector if o.normal is None else o.normal).astype(np.float64) for o in others], 1)
        metric = np.eye(len(d)) if ref is None else np.cov(ref, rowvar=False)
        metric = metric + np.eye(len(d)) * 1e-6 * max(np.trace(metric) / len(d), 1e-12)  # few latents: full rank
        spread = metric @ held
        d = d - spread @ np.linalg.lstsq(held.T @ spread, held.T @ d, rcond=None)[0]
        if np.abs(held.T @ d).max() > 1e-6 * max(1.0, np.linalg.norm(d)):
            raise GanlabError(f"'{direction.name}' cannot be moved without moving {[o.name for o in others]}")
    if np.linalg.norm(d) < 1e-6:
        raise GanlabError(f"'{direction.name}' lies within the span of {[o.name for o in others]}; "
                          "nothing is left after conditioning")
    d = d / np.linalg.norm(d)
    sigma = direction.sigma if ref is None else _sigma(ref, d)
    meta = {**direction.metadata, "conditioned_on": [o.name for o in others]}
    return replace(direction, vector=d, sigma=sigma, metadata=meta)


@torch.no_grad()
def sample_w(model: StyleGAN2Model, n: int, seed: int = 0, batch: int = 1000) -> torch.Tensor:
    """`w` [n, w_dim] of `n` seeded z samples (on the CPU): the model's own latent distribution."""
    parts = [model.mapping(model.sample_z(min(batch, n - i), seed=seed + i))[:, 0].cpu() for i in range(0, n, batch)]
    return torch.cat(parts)


def _fix_sign(v: np.ndarray) -> np.ndarray:
    """Eigenvectors have no sign; make the largest coordinate positive so results are reproducible."""
    return v if v[np.argmax(np.abs(v))] >= 0 else -v


def ganspace(model: StyleGAN2Model, n_samples: int = 10000, n_components: int = 10, seed: int = 0) -> list[Direction]:
    """GANSpace: principal axes of sampled w, by decreasing variance; sigma is each axis's std."""
    w = sample_w(model, n_samples, seed).double().numpy()
    k = min(n_components, w.shape[1], n_samples - 1)
    _, s, vt = np.linalg.svd(w - w.mean(0), full_matrices=False)
    var = s ** 2 / (n_samples - 1)
    return [Direction(f"pc{i}", _fix_sign(vt[i]), model.name, space="w", source="ganspace",
                      sigma=float(np.sqrt(var[i])),
                      metadata={"index": i, "explained_variance": float(var[i]),
                                "explained_variance_ratio": float(var[i] / var.sum()), "n_samples": n_samples})
            for i in range(k)]


def affine_layers_by_ws(net: Generator) -> dict[int, list[tuple[str, FullyConnectedLayer]]]:
    """For each ws index, the style (affine) layers that read it, named like 'b8.conv0.affine'.

    A block reads ws[slice] in the order conv0 (if any), conv1, torgb, so neighbouring blocks share
    one index: the toRGB of one block and the first conv of the next.
    """
    out: dict[int, list[tuple[str, FullyConnectedLayer]]] = {}
    for block_name, sl in net.synthesis.ws_slices().items():
        block = getattr(net.synthesis, block_name)
        names = ["conv0", "conv1"][2 - block.num_conv:] + ["torgb"]
        if len(names) != sl.stop - sl.start:
            raise ShapeError(f"{block_name} reads {sl.stop - sl.start} ws but has layers {names}")
        for idx, layer in zip(range(sl.start, sl.stop), names):
            out.setdefault(idx, []).append((f"{block_name}.{layer}.affine", getattr(block, layer).affine))
    return out


def sefa_matrix(net: Generator, layers: Sequence[int]) -> torch.Tensor:
    """A: the affine weights [sum of channels, w_dim] of every layer reading `layers`, each row unit-norm
    (as in the SeFa paper, so wide layers and weight scales do not dominate)."""
    by_ws = affine_layers_by_ws(net)
    bad = [i for i in layers if i not in by_ws]
    if bad or not layers:
        raise GanlabError(f"SeFa layers must be ws indices in 0..{len(by_ws) - 1}, got {list(layers)}")
    a = torch.cat([fc.weight.detach().double().cpu() * fc.weight_gain
                   for i in sorted(set(layers)) for _, fc in by_ws[i]])
    return a / a.norm(dim=1, keepdim=True)


def sefa(model: StyleGAN2Model, layers: Sequence[int] | None = None, n_components: int = 10,
         sigma_samples: int = 2000, seed: int = 0) -> list[Direction]:
    """SeFa: the directions the style layers of `layers` (ws indices; None = all) respond to most,
    the top eigenvectors of A^T A, closed-form from the weights. The directions edit those layers."""
    chosen = sorted(set(range(model.num_ws) if layers is None else layers))
    a = sefa_matrix(model.net, chosen)
    values, vectors = torch.linalg.eigh(a.T @ a)
    order = torch.argsort(values, descending=True)[:n_components]
    w = sample_w(model, sigma_samples, seed).double().numpy()
    default_layers = None if layers is None else tuple(chosen)
    out = []
    for rank, i in enumerate(order.tolist()):
        v = _fix_sign(vectors[:, i].numpy())
        out.append(Direction(f"sefa{rank}", v, model.name, space="w+", layers=default_layers, source="sefa",
                             sigma=_sigma(w, v), metadata={"index": rank, "eigenvalue": float(values[i]),
                                                           "layers": chosen}))
    return out


def save_directions(directions: Sequence[Direction], path: Path | str) -> Path:
    """Write `.npz`: `vectors` [K, w_dim] float32, `normals` [K, w_dim] (zero where a direction has none)
    and `meta` (JSON: model id, space, layers, source, accuracy, sigma, name, metadata). Written
    atomically, so a reader never sees half a file."""
    if not directions:
        raise GanlabError("no directions to save")
    dims = {d.w_dim for d in directions}
    if len(dims) != 1:
        raise ShapeError(f"directions of different w_dim {sorted(dims)} cannot share one file")
    meta = {"format": FILE_FORMAT, "version": FILE_VERSION,
            "directions": [{"name": d.name, "model_id": d.model_id, "space": d.space,
                            "layers": None if d.layers is None else list(d.layers), "source": d.source,
                            "accuracy": d.accuracy, "sigma": d.sigma, "metadata": d.metadata,
                            "has_normal": d.normal is not None} for d in directions]}
    normals = [np.zeros_like(d.vector) if d.normal is None else d.normal for d in directions]
    buf = io.BytesIO()
    np.savez(buf, vectors=np.stack([d.vector for d in directions]).astype(np.float32),
             normals=np.stack(normals).astype(np.float32), meta=np.array(json.dumps(meta)))
    return write_atomically(path, buf.getvalue())


def load_directions(path: Path | str, model_id: str, w_dim: int, own: bool = False) -> list[Direction]:
    """Read a file from `save_directions` for model `model_id`; directions made for another model are
    refused (a W direction means nothing in another generator's W). `own`: the file is in the model's
    folder, so it belongs to it whatever the model was called when it was written."""
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as data:
            vectors, meta = data["vectors"], json.loads(str(data["meta"]))
            normals = data["normals"] if "normals" in data else np.zeros_like(vectors)
    except (OSError, KeyError, ValueError) as err:
        raise GanlabError(f"{path.name} is not a readable ganlab directions file ({err})") from None
    if meta.get("format") != FILE_FORMAT:
        raise GanlabError(f"{path.name} is not a ganlab directions file")
    entries = meta["directions"]
    if own:
        entries = [{**e, "model_id": model_id} for e in entries]
    foreign = sorted({e["model_id"] for e in entries} - {model_id})
    if foreign:
        raise GanlabError(f"{path.name} holds directions for model {', '.join(map(repr, foreign))}, not "
                          f"'{model_id}'; directions only work in the generator they were found in")
    if vectors.ndim != 2 or vectors.shape[1] != w_dim or normals.shape != vectors.shape:
        raise ShapeError(f"{path.name}: direction vectors have shape {list(vectors.shape)} (normals "
                         f"{list(normals.shape)}), expected [K, {w_dim}] for this model's w")
    return [Direction(e["name"], v, e["model_id"], space=e["space"],
                      layers=None if e["layers"] is None else tuple(e["layers"]), source=e["source"],
                      accuracy=e["accuracy"], sigma=e["sigma"], metadata=e["metadata"],
                      normal=n if e.get("has_normal") else None)
            for e, v, n in zip(entries, vectors, normals)]
