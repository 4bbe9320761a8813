"""Optimisation-based StyleGAN2 projection, equivalent to the official StyleGAN2-ADA projector.

Start from the mean w (of `w_avg_samples` mapped samples, with their RMS spread as the noise scale),
optimise w (or one w per layer, `w+`) and per-layer noise maps with Adam, a learning-rate ramp-up and
cosine ramp-down, decaying latent noise, the multi-scale noise autocorrelation penalty and noise
renormalisation. The distance is LPIPS on images area-downsampled to 256 px (or the stated fallback).

`project` is a generator: it yields `ProjectionStep` records while it runs and a `ProjectionResult`
last. N targets are projected at once as one batch, each with its own latent and noise maps; the
model is never modified, so one loaded model can serve many users.

On a CUDA device one whole step (forward, backward, Adam, noise renormalisation: hundreds of small
kernels) is captured once as a CUDA graph and replayed, since launching those kernels one by one
from Python takes longer than the GPU needs to run them.
"""

from __future__ import annotations

import math
import threading
import time
import warnings
from dataclasses import dataclass, field
from typing import Callable, Iterator

import numpy as np
import torch
import torch.nn.functional as F

from ganlab.errors import GanlabError
from ganlab.imaging import to_uint8
from ganlab.invert.losses import Distance, lpips_distance
from ganlab.invert.metrics import image_metrics
from ganlab.models.base import W_SPACES, check_shape
from ganlab.models.stylegan2_model import StyleGAN2Model

SPACES = W_SPACES
PIXEL_LOSSES = ("none", "mse", "l1")


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
    cuda_graph: bool = True               # on CUDA devices, replay each step as one captured CUDA graph (same maths)


# ganlab's own settings: a bolder step, no exploratory latent noise and an extra pixel MSE reconstruct
# held-out toy faces better than the official settings in w+ (benchmarks/projection.py measures both; run it
# with `--seed 2000000000 --n 16` for faces they were not chosen on).
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
    if cfg.pixel_loss not in PIXEL_LOSSES:
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
    for v in noise.values():
        v.requires_grad_(cfg.optimize_noise)

    def synth(w: torch.Tensor) -> torch.Tensor:
        ws = w if cfg.space == "w+" else w.repeat(1, model.num_ws, 1)
        return model.net.synthesis(ws, noise_inputs=noise)

    # On CUDA the step always reads device-side inputs (capturable Adam), captured or not: `cuda_graph` then
    # changes only the speed, and a run repeats exactly either way (with deterministic kernels).
    one_step = _Step(cfg, synth, distance, target, w_opt, noise, w_std, static=device.type == "cuda")
    optimizer = one_step.optimizer
    first_step, history, carried_s = 0, [], 0.0
    if resume is not None:
        check_shape("resume.w_opt", resume.w_opt, list(w_opt.shape))
        with torch.no_grad():
            w_opt.copy_(resume.w_opt)
            for name, v in noise.items():
                v.copy_(resume.noise[name])
        one_step.load_optimizer(resume.optimizer)
        first_step, history, carried_s = resume.step, list(resume.history), resume.elapsed_s

    call_started = time.perf_counter()
    started, step, stopped = call_started - carried_s, first_step, ""
    if cfg.cuda_graph and device.type == "cuda" and first_step < cfg.num_steps:
        one_step.capture(first_step)
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
        dist, reg, pix = one_step(step)

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


_WARMUP_STEPS = 3                 # eager steps on a side stream before a capture, as PyTorch asks (then undone)
_capture_lock = threading.Lock()  # CUDA allows one graph capture at a time in a process
# Distances (by name) whose steps could not be captured, and why. A failed capture keeps the memory it took
# (PyTorch never releases the pool of a capture that did not end), so it is not tried again in this process.
_uncapturable: dict[str, str] = {}


def uncaptured_distances() -> dict[str, str]:
    """Distances (by name) whose projection steps could not be captured as CUDA graphs in this process, and why.

    Their runs take the same steps eagerly, only slower (a `RuntimeWarning` said so the first time).
    """
    return dict(_uncapturable)


class _Step:
    """One optimisation step of `project`, its maths written once: run eagerly, or replayed as a CUDA graph.

    Step i's inputs are its learning rate, its latent noise and that noise's scale. The maths reads them
    with `w_opt`, the noise maps and Adam's state, updates those in place (forward, backward, Adam, noise
    renormalisation) and returns the loss terms (distance, noise_reg, pixel; each [N]).
    With `static` inputs (the graph path) every input is a device tensor filled in place before the step,
    and Adam keeps its lr and step count on the device (`capturable`), so one graph captured by `capture`
    serves every step; calls then replay it and return the same static output tensors each time.
    Without, the inputs are plain values and tensors made per step, as the eager loop always had them.
    """

    def __init__(self, cfg: ProjectionConfig, synth: Callable[[torch.Tensor], torch.Tensor], distance: Distance,
                 target: torch.Tensor, w_opt: torch.Tensor, noise: dict[str, torch.Tensor], w_std: float,
                 static: bool):
        self.cfg, self.synth, self.distance, self.target = cfg, synth, distance, target
        self.w_opt, self.noise, self.w_std, self.static = w_opt, noise, w_std, static
        self.device = w_opt.device
        # Latent noise is drawn on the run's device (no host copy per step) and seeded anew each step, so a
        # paused run resumes on any device with no generator state to carry.
        self.latent_gen = torch.Generator(device=self.device)
        self.lr: float | torch.Tensor = cfg.initial_learning_rate
        self.latent: torch.Tensor | None = None  # the latent noise before scaling, [N, 1 or num_ws, w_dim]
        self.scale: float | torch.Tensor = 0.0
        if static:
            self.lr = torch.tensor(cfg.initial_learning_rate, device=self.device)
            self.latent = torch.zeros_like(w_opt)
            self.scale = torch.zeros((), device=self.device)
        params = [w_opt] + (list(noise.values()) if cfg.optimize_noise else [])
        self.optimizer = torch.optim.Adam(params, betas=(0.9, 0.999), lr=self.lr, capturable=static)
        # The warm-up before a capture runs it uncaptured on purpose: no advice against capturable=True, then.
        self.optimizer._warned_capturable_if_run_uncaptured = True
        self.graph: torch.cuda.CUDAGraph | None = None
        self.outputs: tuple[torch.Tensor, torch.Tensor, torch.Tensor] | None = None

    def __call__(self, step: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Run step `step` (0-based); its loss terms (distance, noise_reg, pixel)."""
        self._set_inputs(step)
        if self.graph is None:
            return self._maths()
        self.graph.replay()
        return self.outputs

    def _set_inputs(self, step: int) -> None:
        cfg = self.cfg
        t = step / cfg.num_steps
        lr = learning_rate(cfg, t)
        scale = self.w_std * cfg.initial_noise_factor * max(0.0, 1.0 - t / cfg.noise_ramp_length) ** 2
        self.latent_gen.manual_seed((cfg.seed + 1) * 1_000_003 + step)
        if self.static:  # in place: the graph reads these very tensors (the draw is randn's own, into the buffer)
            self.lr.fill_(lr)
            self.scale.fill_(scale)
            self.latent.normal_(generator=self.latent_gen)
            return
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        self.scale = scale
        self.latent = torch.randn(self.w_opt.shape, generator=self.latent_gen, device=self.device)

    def _maths(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        cfg, target, noise = self.cfg, self.target, self.noise
        # A graph must not keep autocast's cast copies between replays: it recasts inside instead.
        with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=cfg.autocast,
                            cache_enabled=False if self.static else None):
            synth_img = self.synth(self.w_opt + self.latent * self.scale)
        synth_img = synth_img.float()

        dist = self.distance(synth_img, target)
        reg = noise_regularizer(noise) if cfg.optimize_noise else torch.zeros(target.shape[0], device=self.device)
        pix = _pixel(cfg, synth_img, target)
        loss = (dist + reg * cfg.regularize_noise_weight + pix * cfg.pixel_weight).sum()
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        if cfg.optimize_noise:
            with torch.no_grad():
                for v in noise.values():
                    v -= v.mean(dim=[1, 2, 3], keepdim=True)
                    v *= v.square().mean(dim=[1, 2, 3], keepdim=True).rsqrt()
        return dist, reg, pix

    def load_optimizer(self, saved: dict) -> None:
        """Go on from a paused run's optimizer state, whichever kind of run saved it.

        An eager run keeps a float lr and Adam's step count on the CPU, a graphed one a device lr and the
        count on the device; this run's own settings (not the saved ones) decide where the state goes.
        """
        groups = [{**{k: v for k, v in mine.items() if k != "params"}, "params": theirs["params"]}
                  for mine, theirs in zip(self.optimizer.param_groups, saved["param_groups"], strict=True)]
        # A copy of the state: Adam would count steps in the saved tensors themselves, and a state may be resumed twice.
        self.optimizer.load_state_dict({"state": _to_cpu(saved["state"]), "param_groups": groups})
        for group in self.optimizer.param_groups:
            group["lr"] = self.lr  # loading copied it; the graph must read this very tensor

    def capture(self, first_step: int) -> None:
        """Record the step as a CUDA graph that later calls replay.

        Capture needs a few eager steps first, on a side stream; they leave no trace: the latents, noise
        maps and Adam's state are put back, so step `first_step` starts where the eager loop would. A step
        that cannot be captured (a distance that reads values on the host, an old driver) runs eagerly
        instead, with a warning, and is not captured again (`uncaptured_distances`).
        """
        if self.distance.name in _uncapturable:
            return
        self._set_inputs(first_step)
        with torch.no_grad():
            # Fills the model's converted-weight caches (kept with the model, for every user) on this stream
            # rather than the side one.
            self.synth(self.w_opt)
        before = self._snapshot()
        current = torch.cuda.current_stream(self.device)
        side = torch.cuda.Stream(self.device)
        side.wait_stream(current)
        try:
            with _capture_lock, torch.cuda.stream(side):
                for _ in range(_WARMUP_STEPS):
                    self._maths()
                self.optimizer.zero_grad(set_to_none=True)  # the captured backward then makes the static grads
                graph = torch.cuda.CUDAGraph()
                with torch.cuda.graph(graph, stream=side, capture_error_mode="thread_local"):
                    outputs = self._maths()
            self.graph, self.outputs = graph, tuple(t.detach() for t in outputs)
        except Exception as err:  # any reason at all: the same maths then runs eagerly, only slower
            self.graph, self.outputs = None, None
            why = f"CUDA graph capture failed ({type(err).__name__}: {str(err)[:160]})"
            if not isinstance(err, torch.OutOfMemoryError):  # memory may be free next time
                _uncapturable[self.distance.name] = why
            warnings.warn(f"projection steps with the distance {self.distance.name!r} run eagerly: {why}",
                          RuntimeWarning, stacklevel=2)
        finally:
            current.wait_stream(side)
            self._restore(before)

    def _changing(self) -> list[torch.Tensor]:
        """Every tensor a step updates: the latents, the noise maps and Adam's state."""
        state = [v for per_param in self.optimizer.state.values() for v in per_param.values() if torch.is_tensor(v)]
        return [self.w_opt, *self.noise.values(), *state]

    def _snapshot(self) -> dict[int, tuple[torch.Tensor, torch.Tensor]]:
        return {id(t): (t, t.detach().clone()) for t in self._changing()}

    @torch.no_grad()
    def _restore(self, before: dict[int, tuple[torch.Tensor, torch.Tensor]]) -> None:
        """Put back what `_snapshot` copied, in place; Adam state made since starts afresh (zeros, as Adam makes it)."""
        for t in self._changing():
            kept = before.get(id(t))
            if kept is None:
                t.zero_()
            else:
                t.copy_(kept[1])


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
    metrics = image_metrics(img, target, distance)
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
