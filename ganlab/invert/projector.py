"""Optimisation-based StyleGAN2 projection, equivalent to the official StyleGAN2-ADA projector.

Start from the mean w (of `w_avg_samples` mapped samples, with their RMS spread as the noise scale),
optimise w (or one w per layer, `w+`) and per-layer noise maps with Adam, a learning-rate ramp-up and
cosine ramp-down, decaying latent noise, the multi-scale noise autocorrelation penalty and noise
renormalisation. The distance is LPIPS on images area-downsampled to 256 px (or the stated fallback).

`project` is a generator: it yields `ProjectionStep` records while it runs and a `ProjectionResult`
last. N targets are projected at once as one batch, each with its own latent and noise maps; the
model is never modified, so one loaded model can serve many users.
"""

from __future__ import annotations

import math
import threading
import time
from dataclasses import dataclass, field
from typing import Callable, Iterator

import numpy as np
import torch
import torch.nn.functional as F

from ganlab.errors import GanlabError
from ganlab.imaging import to_uint8
from ganlab.invert.losses import Distance, lpips_distance
from ganlab.invert.metrics import psnr, ssim
from ganlab.models.base import check_shape
from ganlab.models.stylegan2_model import StyleGAN2Model

SPACES = ("w", "w+")


@dataclass
class ProjectionConfig:
    """Hyper-parameters, with the official projector's defaults."""

    num_steps: int = 1000                 # optimisation steps
    space: str = "w"                      # 'w' (one w for all layers) or 'w+' (one per layer)
    w_avg_samples: int = 10000            # mapped samples for the starting w and its spread
    initial_learning_rate: float = 0.1
    initial_noise_factor: float = 0.05    # latent noise at the start, times the w spread
    lr_rampdown_length: float = 0.25     # fraction of steps for the cosine ramp-down
    lr_rampup_length: float = 0.05       # fraction of steps for the linear ramp-up
    noise_ramp_length: float = 0.75      # fraction of steps over which latent noise decays to 0
    regularize_noise_weight: float = 1e5  # weight of the noise autocorrelation penalty
    optimize_noise: bool = True           # optimise the per-layer noise maps too
    pixel_loss: str = "none"              # extra pixel loss: 'none', 'mse' or 'l1'
    pixel_weight: float = 0.0             # its weight
    target_distance: float | None = None  # stop early once every target's distance is below this
    preview_every: int = 10               # steps between preview images in the records (0 = never)
    report_every: int = 1                 # steps between records (losses need a host sync)
    autocast: bool = False                # synthesis in bfloat16 autocast (for recent GPUs; distance stays fp32)
    seed: int = 0                         # seeds the noise maps and, step by step, the latent noise


# ganlab's own settings, measured on held-out toy faces (w+, 500 steps): a bolder step, no exploratory latent
# noise and an extra pixel MSE give 29.0 dB where the official settings give 27.5 (benchmarks/projection.py's
# 8 faces, which they were chosen on; 28.4 against 26.8 on 16 other faces, `--seed 2000000000 --n 16`).
TUNED = {"initial_learning_rate": 0.2, "initial_noise_factor": 0.0, "pixel_loss": "mse", "pixel_weight": 1.0}
SETTINGS: dict[str, dict] = {"official": {}, "tuned": TUNED}


def settings_config(settings: str = "official", **fields) -> ProjectionConfig:
    """A config with the named settings (`SETTINGS`); `fields` override them (pass None to keep them)."""
    if settings not in SETTINGS:
        raise GanlabError(f"settings must be one of {', '.join(SETTINGS)}, got {settings!r}")
    given = {k: v for k, v in fields.items() if v is not None}
    return ProjectionConfig(**{**SETTINGS[settings], **given})


@dataclass
class ProjectionStep:
    """Progress: `losses` holds each term (batch means); `preview` is uint8 [N, H, W, 3] when present."""

    step: int
    total: int
    losses: dict[str, float]
    distance_name: str
    eta_s: float
    preview: np.ndarray | None = None
    note: str = ""


@dataclass
class ProjectionState:
    """A paused run (all tensors on the CPU): `project(..., resume=state)` continues it exactly.

    Lets a front end split a long projection into calls of bounded length (ZeroGPU slots).
    """

    step: int
    w_opt: torch.Tensor
    noise: dict[str, torch.Tensor]
    optimizer: dict
    history: list[dict[str, float]]
    elapsed_s: float


@dataclass
class ProjectionResult:
    """The outcome: `ws` [N, num_ws, w_dim] (and `w` [N, w_dim] for the `w` space), noise maps, metrics."""

    ws: torch.Tensor
    w: torch.Tensor | None
    noise: dict[str, torch.Tensor]
    images: np.ndarray
    metrics: list[dict[str, float]]
    steps_run: int
    distance_name: str
    stopped: str = ""                     # '', 'target reached', 'cancelled' or the reason for a NaN stop
    history: list[dict[str, float]] = field(default_factory=list)


def learning_rate(cfg: ProjectionConfig, t: float) -> float:
    """Official schedule at progress t in [0, 1): linear ramp-up, cosine ramp-down."""
    ramp = min(1.0, (1.0 - t) / cfg.lr_rampdown_length)
    ramp = 0.5 - 0.5 * math.cos(ramp * math.pi)
    ramp = ramp * min(1.0, t / cfg.lr_rampup_length)
    return cfg.initial_learning_rate * ramp


def noise_regularizer(noise: dict[str, torch.Tensor]) -> torch.Tensor:
    """Multi-scale autocorrelation penalty per target [N]: keeps noise maps from encoding the image.

    Maps [N, 1, H, W] of one size are stacked as channels and penalised together (fewer, larger ops).
    """
    by_size: dict[tuple[int, ...], list[torch.Tensor]] = {}
    for v in noise.values():
        by_size.setdefault(tuple(v.shape), []).append(v)
    total = 0.0
    for maps in by_size.values():
        x = torch.cat(maps, dim=1)
        while True:
            total = total + ((x * torch.roll(x, shifts=1, dims=3)).mean(dim=[2, 3]) ** 2).sum(dim=1)
            total = total + ((x * torch.roll(x, shifts=1, dims=2)).mean(dim=[2, 3]) ** 2).sum(dim=1)
            if x.shape[2] <= 8:
                break
            x = F.avg_pool2d(x, kernel_size=2)
    return total


def _pixel(cfg: ProjectionConfig, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    if cfg.pixel_loss == "mse":
        return (a - b).square().flatten(1).mean(1)
    if cfg.pixel_loss == "l1":
        return (a - b).abs().flatten(1).mean(1)
    return torch.zeros(a.shape[0], device=a.device)


def _validate(model: StyleGAN2Model, target: torch.Tensor, cfg: ProjectionConfig) -> None:
    if model.kind != "stylegan2":
        raise GanlabError("this projector inverts StyleGAN2 models; use the BigGAN inverter for BigGAN")
    if cfg.space not in SPACES:
        raise GanlabError(f"space must be one of {SPACES}, got {cfg.space!r}")
    if cfg.pixel_loss not in ("none", "mse", "l1"):
        raise GanlabError(f"pixel_loss must be 'none', 'mse' or 'l1', got {cfg.pixel_loss!r}")
    if cfg.num_steps < 1:
        raise GanlabError("num_steps must be at least 1")
    check_shape("target", target, [None, 3, model.resolution, model.resolution])


def project(model: StyleGAN2Model, target: torch.Tensor, cfg: ProjectionConfig | None = None,
            init_ws: torch.Tensor | None = None, distance: Distance | None = None,
            cancel: threading.Event | None = None, init_noise: dict[str, torch.Tensor] | None = None,
            resume: ProjectionState | None = None,
            pause_after_s: float | None = None) -> Iterator[ProjectionStep | ProjectionResult | ProjectionState]:
    """Project `target` (`img` [N, 3, R, R] in [-1, 1], R = model resolution) into `cfg.space`.

    `init_ws` [N, num_ws, w_dim] starts from a previous result (a finished `w` run, for `w+`) instead
    of the mean w, and `init_noise` (name -> [N, 1, H, W]) replaces the random starting noise maps.
    `cancel` stops the run at the next step; the result then holds the latents so far.
    With `pause_after_s`, a run still unfinished after that many seconds of this call ends with a
    `ProjectionState` instead of a result; call again with `resume=` it (same target and cfg) to go on.
    """
    cfg = cfg or ProjectionConfig()
    _validate(model, target, cfg)
    device = model.device
    distance = distance or lpips_distance(device)
    n = target.shape[0]
    target = target.to(device, torch.float32)
    gen = torch.Generator(device="cpu").manual_seed(cfg.seed)  # noise maps: the same on every device
    # Latent noise is drawn on the run's device (no host copy per step) and seeded anew each step, so a
    # paused run resumes on any device with no generator state to carry.
    latent_gen = torch.Generator(device=device)

    w_avg, w_std = model.w_stats(n=cfg.w_avg_samples)
    if init_ws is not None:
        check_shape("init_ws", init_ws, [n, model.num_ws, model.w_dim])
        start = init_ws.to(device).float() if cfg.space == "w+" else init_ws.to(device).float().mean(1, keepdim=True)
    else:
        layers = model.num_ws if cfg.space == "w+" else 1
        start = w_avg.reshape(1, 1, -1).repeat(n, layers, 1)
    w_opt = start.clone().requires_grad_(True)

    noise = {name: torch.randn((n, 1, *shape), generator=gen).to(device)
             for name, shape in model.net.synthesis.noise_shapes().items()}
    if init_noise is not None:
        for name, v in noise.items():
            check_shape(f"init_noise[{name!r}]", init_noise[name], list(v.shape))
            v.copy_(init_noise[name])
    params = [w_opt] + (list(noise.values()) if cfg.optimize_noise else [])
    for v in noise.values():
        v.requires_grad_(cfg.optimize_noise)
    optimizer = torch.optim.Adam(params, betas=(0.9, 0.999), lr=cfg.initial_learning_rate)
    first_step, history, carried_s = 0, [], 0.0
    if resume is not None:
        check_shape("resume.w_opt", resume.w_opt, list(w_opt.shape))
        with torch.no_grad():
            w_opt.copy_(resume.w_opt)
            for name, v in noise.items():
                v.copy_(resume.noise[name])
        optimizer.load_state_dict(resume.optimizer)
        first_step, history, carried_s = resume.step, list(resume.history), resume.elapsed_s

    def synth(w: torch.Tensor) -> torch.Tensor:
        ws = w if cfg.space == "w+" else w.repeat(1, model.num_ws, 1)
        return model.net.synthesis(ws, noise_inputs=noise)

    call_started = time.perf_counter()
    started, step, stopped = call_started - carried_s, first_step, ""
    for step in range(first_step, cfg.num_steps):
        if pause_after_s is not None and step > first_step and time.perf_counter() - call_started >= pause_after_s:
            yield ProjectionState(step=step, w_opt=w_opt.detach().cpu(),
                                  noise={k: v.detach().cpu() for k, v in noise.items()},
                                  optimizer=_to_cpu(optimizer.state_dict()),
                                  history=history, elapsed_s=time.perf_counter() - started)
            return
        if cancel is not None and cancel.is_set():
            stopped = "cancelled"
            break
        t = step / cfg.num_steps
        for group in optimizer.param_groups:
            group["lr"] = learning_rate(cfg, t)
        w_noise_scale = w_std * cfg.initial_noise_factor * max(0.0, 1.0 - t / cfg.noise_ramp_length) ** 2
        latent_gen.manual_seed((cfg.seed + 1) * 1_000_003 + step)
        w_noise = torch.randn(w_opt.shape, generator=latent_gen, device=device) * w_noise_scale
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=cfg.autocast):
            synth_img = synth(w_opt + w_noise)
        synth_img = synth_img.float()

        dist = distance(synth_img, target)
        reg = noise_regularizer(noise) if cfg.optimize_noise else torch.zeros(n, device=device)
        pix = _pixel(cfg, synth_img, target)
        loss = (dist + reg * cfg.regularize_noise_weight + pix * cfg.pixel_weight).sum()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        if cfg.optimize_noise:
            with torch.no_grad():
                for v in noise.values():
                    v -= v.mean(dim=[1, 2, 3], keepdim=True)
                    v *= v.square().mean(dim=[1, 2, 3], keepdim=True).rsqrt()

        done = step + 1
        last = done == cfg.num_steps
        if done % cfg.report_every and not last:
            continue
        losses = {"distance": dist.mean().item(), "noise_reg": reg.mean().item()}
        if cfg.pixel_loss != "none":
            losses[f"pixel_{cfg.pixel_loss}"] = pix.mean().item()
        history.append({"step": done, **losses})
        if not all(math.isfinite(v) for v in losses.values()):
            stopped = f"stopped at step {done}: the loss became NaN/inf (try a lower learning rate)"
            break
        preview = None
        if cfg.preview_every and (done % cfg.preview_every == 0 or last):
            with torch.no_grad():
                preview = to_uint8(synth(w_opt).clamp(-1, 1))
        elapsed = time.perf_counter() - started
        yield ProjectionStep(step=done, total=cfg.num_steps, losses=losses, distance_name=distance.name,
                             eta_s=elapsed / done * (cfg.num_steps - done), preview=preview, note=distance.why)
        if cfg.target_distance is not None and dist.max().item() <= cfg.target_distance:
            stopped = "target reached"
            break
    else:
        step = cfg.num_steps - 1

    yield _result(model, w_opt.detach(), noise, target, cfg, distance, history, stopped,
                  steps_run=step + 1 if stopped != "cancelled" else step)


def _to_cpu(tree):
    """An optimizer state dict with its tensors on the CPU (a paused run may resume on another device)."""
    if isinstance(tree, torch.Tensor):
        return tree.detach().cpu().clone()
    if isinstance(tree, dict):
        return {k: _to_cpu(v) for k, v in tree.items()}
    if isinstance(tree, list):
        return [_to_cpu(v) for v in tree]
    return tree


@torch.no_grad()
def _result(model: StyleGAN2Model, w_opt: torch.Tensor, noise: dict[str, torch.Tensor], target: torch.Tensor,
            cfg: ProjectionConfig, distance: Distance, history: list[dict[str, float]], stopped: str,
            steps_run: int) -> ProjectionResult:
    ws = w_opt if cfg.space == "w+" else w_opt.repeat(1, model.num_ws, 1)
    noise = {k: v.detach() for k, v in noise.items()}
    img = model.net.synthesis(ws, noise_inputs=noise).clamp(-1, 1)
    dist = distance(img, target)
    metrics = [{"psnr": float(p), "ssim": float(s), "distance": float(d)}
               for p, s, d in zip(psnr(img, target), ssim(img, target), dist)]
    if distance.is_lpips:
        for m in metrics:
            m["lpips"] = m["distance"]
    return ProjectionResult(ws=ws.cpu(), w=w_opt[:, 0].cpu() if cfg.space == "w" else None,
                            noise={k: v.cpu() for k, v in noise.items()}, images=to_uint8(img), metrics=metrics,
                            steps_run=steps_run, distance_name=distance.name, stopped=stopped, history=history)


def constant_noise(model: StyleGAN2Model, n: int) -> dict[str, torch.Tensor]:
    """The model's own fixed noise maps (`noise_mode='const'`), as [n, 1, H, W] per layer."""
    return {name: model.net.synthesis.get_buffer(f"{name}.noise_const").reshape(1, 1, *shape).repeat(n, 1, 1, 1)
            for name, shape in model.net.synthesis.noise_shapes().items()}


@torch.no_grad()
def result_from_ws(model: StyleGAN2Model, ws: torch.Tensor, target: torch.Tensor, distance: Distance,
                   steps_run: int, stopped: str = "",
                   history: list[dict[str, float]] | None = None) -> ProjectionResult:
    """A result for latents found without the projector (encoder, landscape): the model's constant noise maps."""
    noise = constant_noise(model, ws.shape[0])
    cfg = ProjectionConfig(space="w+")
    return _result(model, ws, noise, target, cfg, distance, history or [], stopped, steps_run)


def project_w_then_w_plus(model: StyleGAN2Model, target: torch.Tensor, cfg: ProjectionConfig | None = None,
                          w_plus_steps: int | None = None, distance: Distance | None = None,
                          cancel: threading.Event | None = None,
                          run: Callable[..., Iterator] = project) -> Iterator[ProjectionStep | ProjectionResult]:
    """A `w` run, then a `w+` run started from its result (steps numbered across both phases).

    `run` is `project` or a stand-in with its signature (the app's chunked projector).
    """
    cfg = cfg or ProjectionConfig()
    first = ProjectionConfig(**{**cfg.__dict__, "space": "w"})
    second = ProjectionConfig(**{**cfg.__dict__, "space": "w+", "num_steps": w_plus_steps or cfg.num_steps})
    total = first.num_steps + second.num_steps
    result = None
    for rec in run(model, target, first, distance=distance, cancel=cancel):
        if isinstance(rec, ProjectionResult):
            result = rec
        else:
            rec.total = total
            yield rec
    if result.stopped:
        yield result
        return
    for rec in run(model, target, second, init_ws=result.ws, distance=distance, cancel=cancel):
        if isinstance(rec, ProjectionStep):
            rec.step += first.num_steps
            rec.total = total
        else:
            rec.steps_run += result.steps_run
            rec.history = result.history + rec.history
        yield rec
