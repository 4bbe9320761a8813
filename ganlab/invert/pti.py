"""Pivotal tuning (PTI, Roich et al. 2021): a pivot latent, then generator weights tuned to render the photo.

Projection alone cannot reach a photo the generator never saw. PTI first finds a pivot (the encoder's guess
refined in W+, or a W projection), then tunes the synthesis convolutions of a private copy of the generator
so that the pivot renders the target (distance plus pixel MSE). The locality regulariser keeps the rest of
the latent space as it was: random mapped latents must render as the untouched generator renders them.
The paper draws its latents between the pivot and random samples instead; here that kept random latents'
pictures less steady and gave back less of the photo (benchmarks/pti.py measures both goals). The
regulariser's latents come from a pool whose untouched renderings are drawn once per target, and it runs
every few steps with its weight scaled to match, so the budget buys more tuning steps.

Every step renders with the model's constant noise maps, as a stored latent is rendered later. The pooled
model is never changed; the result carries, per target, the `TunedWeights` of its own copy. Targets of a
batch share the pivot search and are tuned one after the other.
"""

from __future__ import annotations

import math
import threading
import time
from dataclasses import dataclass, field
from typing import Iterator

import numpy as np
import torch

from ganlab.errors import GanlabError
from ganlab.imaging import to_uint8
from ganlab.invert.encoder import Encoder
from ganlab.invert.hybrid import hybrid_project
from ganlab.invert.losses import Distance, lpips_distance
from ganlab.invert.metrics import image_metrics
from ganlab.invert.projector import (TUNED, ProjectionConfig, ProjectionResult, ProjectionStep, constant_noise,
                                     project)
from ganlab.models.base import check_shape
from ganlab.models.stylegan2_model import StyleGAN2Model
from ganlab.models.tuned import TunedWeights, private_copy, through, tunable_names

PIVOTS = ("w", "encoder")


@dataclass
class PTIConfig:
    """How to find the pivot and how to tune around it."""

    pivot: str = "encoder"            # 'encoder': its guess refined in W+ (W without one); 'w': W projection
    pivot_steps: int = 500            # projector steps that find the pivot
    tune_steps: int = 1400            # weight-tuning steps per target
    learning_rate: float = 2e-3       # Adam's rate for the weights
    lr_rampdown: float = 0.5          # fraction of the tuning steps over which the rate falls to 0 (cosine)
    pixel_weight: float = 100.0       # weight of the pixel MSE beside the distance (PSNR follows it)
    locality_weight: float = 12.0     # weight of the locality regulariser (0 = none)
    locality_every: int = 2           # steps between the regulariser's renders (its weight scaled to match)
    locality_batch: int = 4           # latents the regulariser renders when it runs
    locality_pool: int = 256          # random latents per target whose untuned renderings are drawn once
    seed: int = 0                     # the pivot search's and the regulariser's random draws
    preview_every: int = 10           # steps between preview images (0 = never)
    w_avg_samples: int = 10000        # mapped samples for the pivot search's mean w and W spread


@dataclass
class PTIResult(ProjectionResult):
    """A projection result whose latents come with their tuned weights (None for a target never tuned)."""

    tuned: list[TunedWeights | None] = field(default_factory=list)


def pti_project(model: StyleGAN2Model, target: torch.Tensor, cfg: PTIConfig | None = None,
                encoder: Encoder | None = None, distance: Distance | None = None,
                cancel: threading.Event | None = None) -> Iterator[ProjectionStep | PTIResult]:
    """Invert `target` (`img` [N, 3, R, R] in [-1, 1]) by pivotal tuning; yields step records, then a `PTIResult`.

    Steps are numbered across the pivot search and every target's tuning. `cancel` during the tuning keeps
    the tuning done so far (targets not reached keep their bare pivots).
    """
    cfg = cfg or PTIConfig()
    _validate(model, target, cfg)
    distance = distance or lpips_distance(model.device)
    target = target.to(model.device, torch.float32)
    n = target.shape[0]
    total = cfg.pivot_steps + n * cfg.tune_steps
    started = time.perf_counter()

    pivot = None
    for rec in _pivot_records(model, target, cfg, encoder, distance, cancel):
        if isinstance(rec, ProjectionResult):
            pivot = rec
            break
        rec.total = total
        rec.eta_s = (time.perf_counter() - started) / max(rec.step, 1) * (total - rec.step)
        rec.note = "; ".join(filter(None, ["finding the pivot", rec.note]))
        yield rec
    history = [dict(h) for h in pivot.history]
    ws = pivot.ws.to(model.device)
    tuned: list[TunedWeights | None] = [None] * n
    stopped, tuned_steps = pivot.stopped, 0
    if not stopped:
        names = tunable_names(model)
        for i in range(n):
            tuner = _Tuner(model, names, ws[i:i + 1], target[i:i + 1], cfg, distance, seed=cfg.seed + i)
            steps_here = 0
            for k in range(cfg.tune_steps):
                if cancel is not None and cancel.is_set():
                    stopped = "cancelled"
                    break
                losses, img = tuner.step(k)
                steps_here += 1
                tuned_steps += 1
                done = cfg.pivot_steps + i * cfg.tune_steps + k + 1
                history.append({"step": done, **losses})
                if not all(math.isfinite(v) for v in losses.values()):
                    stopped = f"stopped at step {done}: the loss became NaN/inf (try a lower learning rate)"
                    steps_here = 0  # this target's weights are broken: it keeps its bare pivot
                    break
                show = cfg.preview_every and ((k + 1) % cfg.preview_every == 0 or k + 1 == cfg.tune_steps)
                elapsed = time.perf_counter() - started
                yield ProjectionStep(step=done, total=total, losses=losses, distance_name=distance.name,
                                     eta_s=elapsed / done * (total - done),
                                     preview=_preview(pivot.images, i, img) if show else None,
                                     note="; ".join(filter(None, [f"tuning the weights ({i + 1} of {n})"
                                                                  if n > 1 else "tuning the weights", distance.why])))
            tuned[i] = tuner.weights() if steps_here else None
            if stopped:
                break
    yield _result(model, ws, tuned, target, distance, history, stopped, pivot.steps_run + tuned_steps)


def _validate(model: StyleGAN2Model, target: torch.Tensor, cfg: PTIConfig) -> None:
    if model.kind != "stylegan2":
        raise GanlabError("pivotal tuning works on StyleGAN2 models")
    if cfg.pivot not in PIVOTS:
        raise GanlabError(f"the pivot must be one of {', '.join(PIVOTS)}, got {cfg.pivot!r}")
    if cfg.pivot_steps < 1 or cfg.tune_steps < 0:
        raise GanlabError("PTI needs at least 1 pivot step and 0 or more tuning steps")
    if not (cfg.learning_rate > 0 and cfg.locality_weight >= 0 and cfg.pixel_weight >= 0
            and min(cfg.locality_every, cfg.locality_batch, cfg.locality_pool) >= 1):
        raise GanlabError("PTI needs a positive learning rate, locality interval, batch and pool, "
                          "and weights of 0 or more")
    check_shape("target", target, [None, 3, model.resolution, model.resolution])


def _pivot_records(model: StyleGAN2Model, target: torch.Tensor, cfg: PTIConfig, encoder: Encoder | None,
                   distance: Distance, cancel: threading.Event | None) -> Iterator[ProjectionStep | ProjectionResult]:
    """The pivot search's records: the encoder's guess refined in W+, or a W projection (also when the model
    has no encoder, which the records then say). Either keeps the constant noise maps the tuning renders with."""
    settings = dict(num_steps=cfg.pivot_steps, preview_every=cfg.preview_every, seed=cfg.seed,
                    w_avg_samples=cfg.w_avg_samples, optimize_noise=False)
    if cfg.pivot == "encoder" and encoder is not None:
        yield from hybrid_project(model, encoder, target, cfg.pivot_steps, ProjectionConfig(**settings),
                                  distance=distance, cancel=cancel)
        return
    missing = f"no encoder for '{model.name}': a W projection instead" if cfg.pivot == "encoder" else ""
    pcfg = ProjectionConfig(**{**settings, **TUNED}, space="w")
    for rec in project(model, target, pcfg, distance=distance, cancel=cancel,
                       init_noise=constant_noise(model, target.shape[0])):
        if isinstance(rec, ProjectionStep):
            rec.note = "; ".join(filter(None, [missing, rec.note]))
        yield rec


class _Tuner:
    """Adam on a private copy's convolutions for one target and its pivot `ws` [1, num_ws, w_dim]."""

    def __init__(self, model: StyleGAN2Model, names: list[str], ws: torch.Tensor, target: torch.Tensor,
                 cfg: PTIConfig, distance: Distance, seed: int):
        self.model, self.names, self.ws, self.target = model, names, ws, target
        self.cfg, self.distance = cfg, distance
        self.copy = private_copy(model, names)
        params = dict(self.copy.net.synthesis.named_parameters())
        trained = [params[n].requires_grad_(True) for n in names]
        self.optimizer = torch.optim.Adam(trained, lr=cfg.learning_rate)
        self.gen = torch.Generator(device="cpu").manual_seed(seed)
        if cfg.locality_weight:
            self.pool_ws, self.pool_img = self._pool()
            self.local = 0.0  # the regulariser's latest value, reported on the steps between its runs

    @torch.no_grad()
    def _pool(self) -> tuple[torch.Tensor, torch.Tensor]:
        """`locality_pool` random mapped ws and their renderings by the untouched generator."""
        z = torch.randn((self.cfg.locality_pool, self.model.z_dim), generator=self.gen).to(self.model.device)
        ws = self.model.mapping(z)
        img = torch.cat([self.model.net.synthesis(chunk, noise_mode="const") for chunk in ws.split(64)])
        return ws, img

    def step(self, k: int) -> tuple[dict[str, float], torch.Tensor]:
        """Adam step `k` (0-based); (its loss terms, the pivot's picture before the step)."""
        cfg = self.cfg
        left = 1 - k / cfg.tune_steps
        ramp = min(1.0, left / cfg.lr_rampdown) if cfg.lr_rampdown else 1.0
        for group in self.optimizer.param_groups:
            group["lr"] = cfg.learning_rate * (0.5 - 0.5 * math.cos(ramp * math.pi))
        img = self.copy.net.synthesis(self.ws, noise_mode="const")
        dist = self.distance(img, self.target).mean()
        pix = (img - self.target).square().mean()
        loss = dist + cfg.pixel_weight * pix
        losses = {"distance": float(dist.detach()), "pixel_mse": float(pix.detach())}
        if cfg.locality_weight and k % cfg.locality_every == 0:
            pick = torch.randint(cfg.locality_pool, (cfg.locality_batch,), generator=self.gen)
            before = self.pool_img[pick.to(self.pool_img.device)]
            after = self.copy.net.synthesis(self.pool_ws[pick.to(self.pool_ws.device)], noise_mode="const")
            local = self.distance(after, before).mean() + (after - before).square().mean()
            loss = loss + cfg.locality_weight * cfg.locality_every * local
            self.local = float(local.detach())
        if cfg.locality_weight:
            losses["locality"] = self.local
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        return losses, img.detach()

    def weights(self) -> TunedWeights:
        return TunedWeights.between(self.model, self.copy, self.names)


def _preview(pivots: np.ndarray, index: int, img: torch.Tensor) -> np.ndarray:
    """uint8 [N, H, W, 3]: the target being tuned as it renders now, the others as their pivots."""
    out = pivots.copy()
    out[index] = to_uint8(img.clamp(-1, 1))[0]
    return out


@torch.no_grad()
def _result(model: StyleGAN2Model, ws: torch.Tensor, tuned: list[TunedWeights | None], target: torch.Tensor,
            distance: Distance, history: list[dict[str, float]], stopped: str, steps_run: int) -> PTIResult:
    imgs = []
    for i, weights in enumerate(tuned):
        net = through(model, weights).net
        imgs.append(net.synthesis(ws[i:i + 1], noise_mode="const").clamp(-1, 1))
    img = torch.cat(imgs)
    metrics = image_metrics(img, target, distance)
    return PTIResult(ws=ws.cpu(), w=None, noise={k: v.cpu() for k, v in constant_noise(model, len(ws)).items()},
                     images=to_uint8(img), metrics=metrics, steps_run=steps_run,
                     distance_name=distance.name, stopped=stopped, history=history, tuned=tuned)
