"""One place that turns a method name into an inversion run, so the CLI and the app offer the same choices.

  projector   optimisation from the mean w in `w`, `w+` or `w` then `w+` (`cfg.num_steps` steps)
  fast        the encoder's single forward pass
  balanced    the encoder, then 100 projector steps in w+
  best        the encoder, then 500 projector steps in w+
  landscape   `cfg.num_steps` Adam steps through the learned landscape map
  pti         a pivot (the encoder's guess refined), then `cfg.num_steps` steps tuning the generator's
              weights for it (pivotal tuning)
"""

from __future__ import annotations

import threading
from dataclasses import replace
from typing import Callable, Iterator

import torch

from ganlab.errors import GanlabError
from ganlab.invert.encoder import find_encoder
from ganlab.invert.hybrid import PRESETS, hybrid_project
from ganlab.invert.landscape import find_landscape, landscape_project
from ganlab.invert.losses import Distance
from ganlab.invert.projector import SPACES as PROJECTOR_SPACES
from ganlab.invert.projector import ProjectionConfig, ProjectionResult, ProjectionStep, project, project_w_then_w_plus
from ganlab.invert.pti import PTIConfig, pti_project
from ganlab.models.stylegan2_model import StyleGAN2Model

METHODS = ("projector", *PRESETS, "landscape", "pti")
SPACES = (*PROJECTOR_SPACES, "w-then-w+")
PROJECTOR_STEPS = 1000


def default_steps(method: str) -> int:
    """The steps a method runs when none are asked for: PTI's are tuning steps, each dearer than a projector's."""
    return PTIConfig.tune_steps if method == "pti" else PROJECTOR_STEPS


def result_space(method: str, space: str) -> str:
    """The space of the latents a run stores: only the plain projector in `w` keeps one w."""
    return "w" if method == "projector" and space == "w" else "w+"


def invert(model: StyleGAN2Model, target: torch.Tensor, method: str = "projector", space: str = "w+",
           cfg: ProjectionConfig | None = None, distance: Distance | None = None,
           cancel: threading.Event | None = None,
           run: Callable[..., Iterator] = project) -> Iterator[ProjectionStep | ProjectionResult]:
    """Invert `target` (`img` [N, 3, R, R] in [-1, 1]) with `method`; yields step records, then the result.

    `space` applies to the projector method; the others work in w+. For 'pti', `cfg.num_steps` are its
    tuning steps (the pivot search has its own) and the result is a `PTIResult`. A method whose trained network is
    missing for `model` says how to train it (the presets fall back to the projector, with a note).
    `run` replaces `project` for the projector method (the app passes its chunked projector).
    """
    cfg = cfg or ProjectionConfig()
    if method not in METHODS:
        raise GanlabError(f"method must be one of {', '.join(METHODS)}, got {method!r}")
    if space not in SPACES:
        raise GanlabError(f"space must be one of {', '.join(SPACES)}, got {space!r}")
    if method == "projector":
        if space == "w-then-w+":
            return project_w_then_w_plus(model, target, cfg, distance=distance, cancel=cancel, run=run)
        return run(model, target, replace(cfg, space=space), distance=distance, cancel=cancel)
    if method == "pti":
        pti = PTIConfig(tune_steps=cfg.num_steps, seed=cfg.seed, preview_every=cfg.preview_every)
        return pti_project(model, target, pti, encoder=find_encoder(model), distance=distance, cancel=cancel)
    if method == "landscape":
        lmap = find_landscape(model)
        if lmap is None:
            raise GanlabError(f"no landscape map is shipped for '{model.name}'; train one with "
                              f"`python -m ganlab train-landscape --model {model.name} --export`")
        return landscape_project(model, lmap, target, steps=cfg.num_steps, distance=distance,
                                 preview_every=cfg.preview_every, cancel=cancel)
    return hybrid_project(model, find_encoder(model), target, method, cfg, distance=distance, cancel=cancel)
