"""Hybrid inversion: the encoder's one-pass guess, then (optionally) the projector refining it in w+.

The encoder lands near the target in milliseconds; starting the projector there instead of at the
mean w buys the quality of many more steps. Without an encoder for the model, the plain projector
runs and every record's note says so.
"""

from __future__ import annotations

import threading
from dataclasses import replace
from typing import Iterator

import numpy as np
import torch

from ganlab.errors import GanlabError
from ganlab.invert.encoder import Encoder, check_fits
from ganlab.invert.losses import Distance, lpips_distance
from ganlab.invert.projector import (TUNED, ProjectionConfig, ProjectionResult, ProjectionStep, constant_noise,
                                     project, result_from_ws)
from ganlab.models.base import check_shape
from ganlab.models.stylegan2_model import StyleGAN2Model

PRESETS: dict[str, int] = {"fast": 0, "balanced": 100, "best": 500}  # projector steps after the encoder
FALLBACK_STEPS = 100  # projector steps for "fast" when there is no encoder to be fast with
# The learning rate ramps up over at least this many steps: at full rate from the first step, a short
# refinement overshoots and ends below the encoder's own reconstruction (benchmarks/fast_inversion.py).
# Shorter refinements never reach the full rate.
RAMPUP_STEPS = 5


def preset_steps(preset: str | int) -> int:
    if isinstance(preset, int):
        if preset < 0:
            raise GanlabError("steps must be 0 or more")
        return preset
    if preset not in PRESETS:
        raise GanlabError(f"preset must be one of {', '.join(PRESETS)} or a number of steps, got {preset!r}")
    return PRESETS[preset]


def hybrid_project(model: StyleGAN2Model, encoder: Encoder | None, target: torch.Tensor,
                   preset: str | int = "balanced", cfg: ProjectionConfig | None = None,
                   distance: Distance | None = None,
                   cancel: threading.Event | None = None) -> Iterator[ProjectionStep | ProjectionResult]:
    """Invert `target` (`img` [N, 3, R, R] in [-1, 1]); yields step records, then a `ProjectionResult`.

    With an encoder: a step-0 record holding E's reconstruction, then the projector's records (w+,
    started from E's ws and the model's constant noise maps, with the `TUNED` settings: the refinement
    starts near the answer, where a bold step and no exploratory noise pay most: see
    benchmarks/fast_inversion.py). A pixel loss set in `cfg` replaces the tuned one; `cfg` sets
    the projector's other settings, `preset` its steps.
    """
    steps = preset_steps(preset)
    cfg = cfg or ProjectionConfig()
    distance = distance or lpips_distance(model.device)
    check_shape("target", target, [None, 3, model.resolution, model.resolution])
    target = target.to(model.device, torch.float32)
    if encoder is None:
        note = f"no encoder for '{model.name}': plain projector from the mean w"
        for rec in project(model, target, replace(cfg, num_steps=steps or FALLBACK_STEPS), distance=distance,
                           cancel=cancel):
            if isinstance(rec, ProjectionStep):
                rec.note = "; ".join(filter(None, [note, rec.note]))
            yield rec
        return

    check_fits(encoder, model)
    with torch.no_grad():
        ws = encoder.to(model.device).eval()(target)
        result = result_from_ws(model, ws, target, distance, steps_run=0)
    mean_distance = float(np.mean([m["distance"] for m in result.metrics]))
    yield ProjectionStep(step=0, total=steps, losses={"distance": mean_distance},
                         distance_name=distance.name, eta_s=0.0, preview=result.images,
                         note="; ".join(filter(None, ["encoder", distance.why])))
    if steps == 0:
        yield result
        return
    rampup = max(cfg.lr_rampup_length, RAMPUP_STEPS / steps)
    refine = replace(cfg, num_steps=steps, space="w+", **TUNED, lr_rampup_length=rampup)
    if cfg.pixel_loss != "none":  # the caller's own pixel loss wins over the tuned one
        refine = replace(refine, pixel_loss=cfg.pixel_loss, pixel_weight=cfg.pixel_weight)
    yield from project(model, target, refine, init_ws=ws, distance=distance, cancel=cancel,
                       init_noise=constant_noise(model, ws.shape[0]))

