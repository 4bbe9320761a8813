"""Shipping directions with a model: label samples with a judge, learn one direction per attribute."""

from __future__ import annotations

from pathlib import Path
from typing import Protocol, Sequence

import numpy as np
import torch

from ganlab.edit.directions import SHIPPED_ATTRIBUTES, Direction, learn_direction, sample_w
from ganlab.models.folder import DIRECTIONS, helper_path
from ganlab.models.stylegan2_model import StyleGAN2Model


def shipped_path(model: StyleGAN2Model) -> Path:
    """Where `model`'s saved directions live: directions.npz in its folder."""
    return helper_path(model, DIRECTIONS)


class Labeller(Protocol):
    """Anything that says what pictures show, like a judge from `ganlab.eval.judges`."""

    def predict(self, img: torch.Tensor) -> dict[str, np.ndarray]: ...


@torch.no_grad()
def label_samples(model: StyleGAN2Model, judge: Labeller, n: int, seed: int = 0,
                  batch: int = 100) -> tuple[torch.Tensor, dict[str, np.ndarray]]:
    """Sample z, map to w, render, and let `judge` label each picture: (w [n, w_dim], labels by name)."""
    ws, labels = [], []
    for first in range(0, n, batch):
        w = sample_w(model, min(batch, n - first), seed=seed + first)
        labels.append(judge.predict(model.synthesize(w.to(model.device), space="w")))
        ws.append(w)
    return torch.cat(ws), {k: np.concatenate([lab[k] for lab in labels]) for k in labels[0]}


def ship_directions(model: StyleGAN2Model, judge: Labeller, n: int = 4000,
                    attributes: Sequence[str] = SHIPPED_ATTRIBUTES, seed: int = 0) -> list[Direction]:
    """The bundled directions: SVMs on `n` generator samples labelled by `judge`, one per attribute.

    Attributes the judge sees in fewer than 2 samples (or in all but 1) are skipped: there is no
    boundary to learn. Each direction's metadata keeps its warnings and the attribute's prevalence.
    """
    w, labels = label_samples(model, judge, n, seed)
    out = []
    for attr in attributes:
        has = np.asarray(labels[attr], dtype=bool)
        if min(has.sum(), (~has).sum()) < 2:
            continue
        mask = torch.from_numpy(has)
        direction, _ = learn_direction(w[mask], w[~mask], attr, model.name, reference=w, seed=seed)
        direction.metadata.update(labelled_by=type(judge).__name__, n_samples=n, prevalence=float(has.mean()))
        out.append(direction)
    return out
