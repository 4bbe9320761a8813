"""Optimisation-based BigGAN inversion: find z (and a class vector) whose image matches a target.

The loss is L1 plus LPIPS (or the stated fallback distance). z lives in the truncation range
[-2 * truncation, 2 * truncation]; entries that leave it during optimisation are re-sampled from the
truncated normal (as in BigGAN inversion practice) instead of clamped, which would pin them to the
edge. Several random starts per target run in one batch and the best is kept. The class is given, or
'auto': every candidate class gets a few steps (screening), the top-k get short runs with all starts
(shortlist), and the best class's starts continue in the main run.

Like the StyleGAN2 projector, `invert` is a generator: `ProjectionStep` records while it runs (steps
numbered across the phases), an `InversionResult` last; `cancel` stops it at the next step with the
best latents so far. The model is never modified: gradients are taken for the latents only.
"""

from __future__ import annotations

import math
import threading
import time
from dataclasses import dataclass, field
from typing import Generator, Iterator, Sequence

import numpy as np
import torch

from ganlab.errors import GanlabError
from ganlab.imaging import to_uint8
from ganlab.invert.losses import Distance, lpips_distance
from ganlab.invert.metrics import psnr, ssim
from ganlab.invert.projector import ProjectionStep
from ganlab.models.base import check_shape
from ganlab.models.biggan import Z_BOUND, BigGANModel, find_class

AUTO = "auto"
MAX_SCREENED = 64  # 'auto' optimises every candidate class of every target in one batch: more would not fit


@dataclass
class InversionConfig:
    """Hyper-parameters. Steps of the 'auto' class phases come on top of `num_steps`."""

    num_steps: int = 300                  # main run
    starts: int = 4                       # random starts per target (one batch), the best is kept
    truncation: float = 1.0               # sets the z range and BigGAN's batch-norm statistics
    initial_learning_rate: float = 0.05   # Adam on z
    class_learning_rate: float = 0.005    # Adam on the class vector (when optimised)
    optimize_class: bool = True           # let the class vector move away from one-hot
    lr_rampup_length: float = 0.05        # fractions of a phase's steps, as in the StyleGAN2 projector
    lr_rampdown_length: float = 0.25
    l1_weight: float = 1.0
    distance_weight: float = 1.0
    screen_steps: int = 10                # 'auto': steps per candidate class, one start each
    top_k: int = 3                        # 'auto': classes that get a shortlist run
    shortlist_steps: int = 50             # 'auto': steps of each shortlisted class, all starts
    target_distance: float | None = None  # stop early once every target's loss is below this
    preview_every: int = 10               # steps between previews of the best start (0 = never)
    seed: int = 0


@dataclass
class InversionResult:
    """Per target: `z` [N, z_dim], `c` [N, num_classes], the class started from, image and metrics.

    `start_losses` [N, starts] are the final losses of every start of the last phase run; `candidates`
    lists per target the shortlisted classes and their best loss, best first ('auto' only).
    """

    z: torch.Tensor
    c: torch.Tensor
    classes: list[int]
    class_names: list[str]
    images: np.ndarray
    metrics: list[dict[str, float]]
    start_losses: torch.Tensor
    truncation: float
    steps_run: int
    distance_name: str
    candidates: list[list[tuple[str, float]]] = field(default_factory=list)
    stopped: str = ""
    history: list[dict[str, float]] = field(default_factory=list)


@dataclass
class _Phase:
    """Rows to optimise: `group` consecutive rows per target, each with its starting class."""

    name: str
    z: torch.Tensor
    c: torch.Tensor
    row_class: torch.Tensor
    group: int
    steps: int


@dataclass
class _State:
    z: torch.Tensor
    c: torch.Tensor
    row_class: torch.Tensor
    group: int
    loss: torch.Tensor
    stopped: str = ""


@dataclass
class _Run:
    """What the phases share: the target, loss, step numbering and history."""

    model: BigGANModel
    target: torch.Tensor
    cfg: InversionConfig
    distance: Distance
    gen: torch.Generator
    cancel: threading.Event | None
    total: int
    done: int = 0
    started: float = field(default_factory=time.perf_counter)
    history: list[dict[str, float]] = field(default_factory=list)


def truncated_normal(shape: tuple[int, ...], truncation: float, gen: torch.Generator) -> torch.Tensor:
    """Samples of the standard normal truncated to [-2, 2], times `truncation` (inverse-CDF sampling)."""
    lo, hi = (0.5 * (1 + math.erf(b / math.sqrt(2))) for b in (-Z_BOUND, Z_BOUND))
    u = lo + (hi - lo) * torch.rand(shape, generator=gen, dtype=torch.float64)
    return (torch.special.ndtri(u) * truncation).float()


def _ramp(cfg: InversionConfig, t: float) -> float:
    """Learning-rate factor at progress t in [0, 1): linear ramp-up, cosine ramp-down."""
    down = 0.5 - 0.5 * math.cos(min(1.0, (1.0 - t) / cfg.lr_rampdown_length) * math.pi)
    return down * min(1.0, t / cfg.lr_rampup_length) if cfg.lr_rampup_length > 0 else down


def _validate(model: BigGANModel, target: torch.Tensor, cfg: InversionConfig) -> None:
    if model.kind != "biggan":
        raise GanlabError(f"this inverter is for BigGAN models; {model.name} is a {model.kind} model")
    if cfg.num_steps < 1 or cfg.starts < 1 or cfg.top_k < 1:
        raise GanlabError("num_steps, starts and top_k must be at least 1")
    if not 0.0 < cfg.truncation <= 1.0:
        raise GanlabError(f"BigGAN truncation must be in (0, 1], got {cfg.truncation}")
    check_shape("target", target, [None, 3, model.resolution, model.resolution])


def _losses(run: _Run, img: torch.Tensor, target: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    l1 = (img - target).abs().flatten(1).mean(1)
    dist = run.distance(img, target)
    return run.cfg.l1_weight * l1 + run.cfg.distance_weight * dist, l1, dist


def _optimise(run: _Run, phase: _Phase) -> Generator[ProjectionStep, None, _State]:
    """Adam on `phase.z` (and `c`) for `phase.steps` steps, yielding records; returns the final `_State`."""
    cfg, model = run.cfg, run.model
    bound = Z_BOUND * cfg.truncation
    target = run.target.repeat_interleave(phase.group, dim=0)
    z = phase.z.clone().requires_grad_(True)
    c = phase.c.clone().requires_grad_(cfg.optimize_class)
    params = [z] + ([c] if cfg.optimize_class else [])
    rates = [cfg.initial_learning_rate, cfg.class_learning_rate][:len(params)]
    optimizer = torch.optim.Adam([{"params": [p], "lr": rate} for p, rate in zip(params, rates)])
    stopped = ""
    for step in range(phase.steps):
        if run.cancel is not None and run.cancel.is_set():
            stopped = "cancelled"
            break
        for group, rate in zip(optimizer.param_groups, rates):
            group["lr"] = rate * _ramp(cfg, step / phase.steps)
        img = model.synthesize(z, c=c, truncation=cfg.truncation)
        loss, l1, dist = _losses(run, img, target)
        for p, g in zip(params, torch.autograd.grad(loss.sum(), params)):
            p.grad = g
        optimizer.step()
        with torch.no_grad():
            outside = z.abs() > bound
            z[outside] = truncated_normal((int(outside.sum()),), cfg.truncation, run.gen).to(z.device)
        run.done += 1
        losses = {"total": loss.mean().item(), "l1": l1.mean().item(), "distance": dist.mean().item(),
                  "resampled": float(outside.sum())}
        run.history.append({"step": run.done, **losses})
        if not all(math.isfinite(v) for v in losses.values()):
            stopped = f"stopped at step {run.done}: the loss became NaN/inf (try a lower learning rate)"
            break
        best = loss.detach().view(-1, phase.group).min(1)
        preview = None
        if cfg.preview_every and (run.done % cfg.preview_every == 0 or run.done == run.total):
            rows = torch.arange(best.indices.shape[0], device=img.device) * phase.group + best.indices
            preview = to_uint8(img.detach()[rows].clamp(-1, 1))
        elapsed = time.perf_counter() - run.started
        yield ProjectionStep(step=run.done, total=run.total, losses=losses, distance_name=run.distance.name,
                             eta_s=elapsed / run.done * (run.total - run.done), preview=preview,
                             note=f"{phase.name}" + (f"; {run.distance.why}" if run.distance.why else ""))
        if cfg.target_distance is not None and best.values.max().item() <= cfg.target_distance:
            stopped = "target reached"
            break
    with torch.no_grad():
        final, _, _ = _losses(run, model.synthesize(z, c=c, truncation=cfg.truncation), target)
    return _State(z.detach(), c.detach(), phase.row_class, phase.group, final, stopped)


def _rows(model: BigGANModel, classes: torch.Tensor, run: _Run) -> tuple[torch.Tensor, torch.Tensor]:
    """Fresh random z and one-hot c for a flat list of row classes."""
    z = truncated_normal((classes.shape[0], model.z_dim), run.cfg.truncation, run.gen).to(model.device)
    c = torch.nn.functional.one_hot(classes, model.num_classes).float().to(model.device)
    return z, c


def invert(model: BigGANModel, target: torch.Tensor, cls: str | int = AUTO, cfg: InversionConfig | None = None,
           distance: Distance | None = None, cancel: threading.Event | None = None,
           candidates: Sequence[str | int] | None = None,
           init: tuple[torch.Tensor, torch.Tensor] | None = None) -> Iterator[ProjectionStep | InversionResult]:
    """Invert `target` (`img` [N, 3, R, R] in [-1, 1]) with class `cls` (name or index) or 'auto'.

    'auto' screens `candidates` (default: every class; give a shortlist for ImageNet's 1000).
    `init` = (z [N, z_dim], class index [N]), an encoder's guess: each target's first start begins at
    its z, every start uses its class, and the class search is skipped.
    """
    cfg = cfg or InversionConfig()
    _validate(model, target, cfg)
    n, s = target.shape[0], cfg.starts
    if init is not None:
        check_shape("init z", init[0], [n, model.z_dim])
        check_shape("init classes", init[1], [n])
    pool = [find_class(q, model.class_names) for q in (candidates or range(model.num_classes))]
    auto = init is None and isinstance(cls, str) and cls.strip().lower() == AUTO
    if auto and len(pool) * n > MAX_SCREENED:
        raise GanlabError(f"'{model.name}' draws {model.num_classes} classes and this inversion has no encoder's guess: "
                          f"finding it would optimise {len(pool) * n} candidates at once. Name the class the "
                          "image shows (e.g. 'golden retriever', or its index), or give a shortlist of at most "
                          f"{MAX_SCREENED}")
    screen = auto and len(pool) > cfg.top_k
    k = min(cfg.top_k, len(pool))
    total = cfg.num_steps + (cfg.shortlist_steps if auto else 0) + (cfg.screen_steps if screen else 0)
    run = _Run(model, target.to(model.device, torch.float32), cfg, distance or lpips_distance(model.device),
               torch.Generator().manual_seed(cfg.seed), cancel, total)

    ranking: list[list[tuple[str, float]]] = []
    if auto:
        shortlist = torch.tensor([pool] * n)                                   # [n, k] class indices
        if screen:
            rows = torch.tensor(pool).repeat(n)
            state = yield from _optimise(run, _Phase(f"screening {len(pool)} classes", *_rows(model, rows, run),
                                                     rows, len(pool), cfg.screen_steps))
            if state.stopped:
                yield _result(run, state, ranking)
                return
            shortlist = torch.tensor(pool)[state.loss.view(n, len(pool)).argsort(1)[:, :k].cpu()]
        rows = shortlist.repeat_interleave(s, dim=1).reshape(-1)
        state = yield from _optimise(run, _Phase(f"shortlist of {k} classes x {s} starts",
                                                 *_rows(model, rows, run), rows, k * s, cfg.shortlist_steps))
        per_class = state.loss.view(n, k, s).min(2).values.cpu()
        ranking = [sorted(((model.class_names[int(shortlist[i, j])], float(per_class[i, j])) for j in range(k)),
                          key=lambda item: item[1]) for i in range(n)]
        if state.stopped:
            yield _result(run, state, ranking)
            return
        best = per_class.argmin(1)
        rows = (torch.arange(n) * k * s)[:, None] + (best * s)[:, None] + torch.arange(s)[None]
        rows = rows.reshape(-1)
        phase = _Phase("main run", state.z[rows], state.c[rows], state.row_class[rows], s, cfg.num_steps)
    elif init is not None:
        given = init[1].cpu().long().repeat_interleave(s)
        z, c = _rows(model, given, run)
        bound = Z_BOUND * cfg.truncation
        z.view(n, s, -1)[:, 0] = init[0].to(z.device, z.dtype).clamp(-bound, bound)
        phase = _Phase("main run from the encoder", z, c, given, s, cfg.num_steps)
    else:
        given = torch.full((n * s,), find_class(cls, model.class_names), dtype=torch.long)
        phase = _Phase("main run", *_rows(model, given, run), given, s, cfg.num_steps)
    state = yield from _optimise(run, phase)
    yield _result(run, state, ranking)


@torch.no_grad()
def _result(run: _Run, state: _State, ranking: list[list[tuple[str, float]]]) -> InversionResult:
    model, cfg = run.model, run.cfg
    per_target = state.loss.view(-1, state.group)
    rows = torch.arange(per_target.shape[0]) * state.group + per_target.argmin(1).cpu()
    z, c, classes = state.z[rows], state.c[rows], [int(v) for v in state.row_class[rows]]
    img = model.synthesize(z, c=c, truncation=cfg.truncation).clamp(-1, 1)
    dist = run.distance(img, run.target)
    metrics = [{"psnr": float(p), "ssim": float(q), "distance": float(d), "loss": float(v)}
               for p, q, d, v in zip(psnr(img, run.target), ssim(img, run.target), dist, state.loss[rows])]
    if run.distance.is_lpips:
        for m in metrics:
            m["lpips"] = m["distance"]
    return InversionResult(z=z.cpu(), c=c.cpu(), classes=classes,
                           class_names=[model.class_names[i] for i in classes],
                           images=to_uint8(img), metrics=metrics, start_losses=per_target.cpu(),
                           truncation=cfg.truncation, steps_run=run.done, distance_name=run.distance.name,
                           candidates=ranking, stopped=state.stopped, history=run.history)
