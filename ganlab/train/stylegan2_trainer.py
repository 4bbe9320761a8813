"""Training a small StyleGAN2 (our `Generator` class) on rendered images, resumably.

The loop is the StyleGAN2 recipe at small scale: non-saturating logistic loss, lazy R1 penalty
on reals, style mixing, an EMA copy of G (what ships), Adam with betas (0, 0.99). It yields a
progress record per step; checkpoints (state dicts only, read back with weights_only=True) and
sample sheets are written every few steps so a run can stop and resume at any time.
"""

from __future__ import annotations

import copy
import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable, Iterator

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from ganlab.imaging import from_uint8, grid, to_uint8
from ganlab.models.stylegan2 import Generator, StyleGAN2Config
from ganlab.models.stylegan2_model import StyleGAN2Model, save_stylegan2
from ganlab.train.discriminator import Discriminator
from ganlab.train.runs import TrainProgress

Renderer = Callable[[int, int], np.ndarray]  # (n, seed) -> uint8 [n, H, W, 3]

# The shipped toy-face generator: 64 px, 32 channels at 64 px and 64 below (sized for a CPU run).
TOYFACES_64 = StyleGAN2Config(z_dim=128, w_dim=128, img_resolution=64, mapping_layers=4,
                              channel_base=2048, channel_max=64)


@dataclass
class TrainConfig:
    """Everything that decides a run; saved next to its checkpoints."""

    steps: int = 4000                   # optimisation steps in total
    batch: int = 32                     # images per step
    lr: float = 0.0025                  # Adam learning rate of G and D
    r1_gamma: float = 0.05              # R1 penalty weight on real images
    r1_every: int = 16                  # lazy regularisation interval
    mixing_prob: float = 0.9            # probability of style mixing per sample
    ema_kimg: float = 5.0               # half-life of the EMA generator, in thousands of images
    ema_rampup: float = 0.05            # EMA half-life ramps up with the images seen so far
    seed: int = 0                       # seeds model init, data order and sampling
    checkpoint_every: int = 200         # steps between checkpoints
    sheet_every: int = 500              # steps between sample sheets
    d_channel_base: int = 2048          # discriminator width (min(base // res, max)), as wide as G
    d_channel_max: int = 64


def progress(step: int, total: int, start_step: int, started: float, batch: int,
             losses: dict[str, float]) -> TrainProgress:
    """The record for `step`, with throughput and ETA measured since this process started training."""
    elapsed = time.perf_counter() - started
    done = step - start_step
    return TrainProgress(step=step, total=total, losses=losses, images_per_s=done * batch / elapsed,
                         eta_s=elapsed / done * (total - step))


@dataclass
class _State:
    G: Generator
    G_ema: Generator
    D: Discriminator
    opt_G: torch.optim.Optimizer
    opt_D: torch.optim.Optimizer
    step: int = 0
    extra: dict = field(default_factory=dict)


def _build(gcfg: StyleGAN2Config, tcfg: TrainConfig, device: torch.device) -> _State:
    torch.manual_seed(tcfg.seed)
    G = Generator(gcfg).to(device).train()
    D = Discriminator(gcfg.img_resolution, tcfg.d_channel_base, tcfg.d_channel_max).to(device).train()
    G_ema = copy.deepcopy(G).eval().requires_grad_(False)
    r1_ratio = tcfg.r1_every / (tcfg.r1_every + 1)
    opt_G = torch.optim.Adam(G.parameters(), lr=tcfg.lr, betas=(0.0, 0.99))
    opt_D = torch.optim.Adam(D.parameters(), lr=tcfg.lr * r1_ratio, betas=(0.0, 0.99 ** r1_ratio))
    return _State(G, G_ema, D, opt_G, opt_D)


def _save(state: _State, run_dir: Path, gcfg: StyleGAN2Config, tcfg: TrainConfig) -> Path:
    path = run_dir / "checkpoint.pt"
    tmp = path.with_suffix(".tmp")
    torch.save({"G": state.G.state_dict(), "G_ema": state.G_ema.state_dict(), "D": state.D.state_dict(),
                "opt_G": state.opt_G.state_dict(), "opt_D": state.opt_D.state_dict(),
                "step": torch.tensor(state.step)}, tmp)
    tmp.replace(path)
    (run_dir / "config.json").write_text(json.dumps({"generator": gcfg.to_dict(), "training": asdict(tcfg)}, indent=2))
    return path


def _load(state: _State, path: Path, device: torch.device) -> None:
    ckpt = torch.load(path, map_location=device, weights_only=True)
    for name in ("G", "G_ema", "D", "opt_G", "opt_D"):
        getattr(state, name).load_state_dict(ckpt[name])
    state.step = int(ckpt["step"])


def _mixed_ws(G: Generator, n: int, prob: float, device: torch.device) -> torch.Tensor:
    """ws for n random z, with the layers after a random cutoff taken from a second z (style mixing)."""
    ws = G.mapping(torch.randn(n, G.cfg.z_dim, device=device), None, update_w_avg=True)
    if prob > 0:
        ws2 = G.mapping(torch.randn(n, G.cfg.z_dim, device=device), None)
        cutoff = torch.randint(1, G.num_ws, (n, 1, 1), device=device)
        cutoff = torch.where(torch.rand(n, 1, 1, device=device) < prob, cutoff, torch.full_like(cutoff, G.num_ws))
        layer = torch.arange(G.num_ws, device=device).reshape(1, -1, 1)
        ws = torch.where(layer < cutoff, ws, ws2)
    return ws


def _sheet(G_ema: Generator, path: Path, device: torch.device, n: int = 32) -> Path:
    with torch.no_grad():
        z = torch.randn(n, G_ema.cfg.z_dim, generator=torch.Generator().manual_seed(1234)).to(device)
        img = G_ema(z, None, noise_mode="const")
    Image.fromarray(grid(to_uint8(img), cols=8)).save(path)
    return path


def train_stylegan2(gcfg: StyleGAN2Config, tcfg: TrainConfig, render: Renderer, run_dir: Path | str,
                    device: torch.device | str = "cpu", resume: bool = True) -> Iterator[TrainProgress]:
    """Train G on `render(n, seed)` batches, resuming from `run_dir/checkpoint.pt` when present."""
    device = torch.device(device)
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    state = _build(gcfg, tcfg, device)
    if resume and (run_dir / "checkpoint.pt").is_file():
        _load(state, run_dir / "checkpoint.pt", device)
    G, D, G_ema = state.G, state.D, state.G_ema
    start_step, started = state.step, time.perf_counter()
    while state.step < tcfg.steps:
        step = state.step
        real = from_uint8(render(tcfg.batch, tcfg.seed * 1_000_003 + step)).to(device)

        # Generator: non-saturating logistic loss.
        G.requires_grad_(True), D.requires_grad_(False)
        fake = G.synthesis(_mixed_ws(G, tcfg.batch, tcfg.mixing_prob, device), noise_mode="random", fused=False)
        loss_G = F.softplus(-D(fake)).mean()
        state.opt_G.zero_grad(set_to_none=True)
        loss_G.backward()
        state.opt_G.step()

        # Discriminator: logistic loss, plus the lazy R1 penalty on reals.
        G.requires_grad_(False), D.requires_grad_(True)
        with torch.no_grad():
            fake = G.synthesis(_mixed_ws(G, tcfg.batch, tcfg.mixing_prob, device), noise_mode="random", fused=False)
        do_r1 = step % tcfg.r1_every == 0
        real.requires_grad_(do_r1)
        real_logits = D(real)
        loss_D = F.softplus(D(fake)).mean() + F.softplus(-real_logits).mean()
        losses = {"G": loss_G.item(), "D": loss_D.item()}
        if do_r1:
            (grad,) = torch.autograd.grad(real_logits.sum(), real, create_graph=True)
            r1 = grad.square().sum(dim=[1, 2, 3]).mean()
            loss_D = loss_D + r1 * (tcfg.r1_gamma / 2) * tcfg.r1_every
            losses["R1"] = r1.item()
        state.opt_D.zero_grad(set_to_none=True)
        loss_D.backward()
        state.opt_D.step()

        # EMA of G: what ships.
        seen = (step + 1) * tcfg.batch
        ema_nimg = min(tcfg.ema_kimg * 1000, seen * tcfg.ema_rampup)
        beta = 0.5 ** (tcfg.batch / max(ema_nimg, 1e-8))
        with torch.no_grad():
            for p_ema, p in zip(G_ema.parameters(), G.parameters()):
                p_ema.copy_(p.lerp(p_ema, beta))
            for b_ema, b in zip(G_ema.buffers(), G.buffers()):
                b_ema.copy_(b)

        state.step += 1
        record = progress(state.step, tcfg.steps, start_step, started, tcfg.batch, losses)
        if state.step % tcfg.sheet_every == 0 or state.step == tcfg.steps:
            record.sheet = _sheet(G_ema, run_dir / f"samples_{state.step:06d}.png", device)
        if state.step % tcfg.checkpoint_every == 0 or state.step == tcfg.steps:
            record.checkpoint = _save(state, run_dir, gcfg, tcfg)
        yield record


def export_ema(run_dir: Path | str, out_dir: Path | str, name: str, extra: dict | None = None) -> Path:
    """Write the run's EMA generator in ganlab's shipped format (safetensors + JSON config)."""
    run_dir = Path(run_dir)
    meta = json.loads((run_dir / "config.json").read_text())
    gcfg = StyleGAN2Config.from_dict(meta["generator"])
    ckpt = torch.load(run_dir / "checkpoint.pt", map_location="cpu", weights_only=True)
    net = Generator(gcfg)
    net.load_state_dict(ckpt["G_ema"])
    info = {"trained": True, "training": meta["training"], "steps_done": int(ckpt["step"]), **(extra or {})}
    return save_stylegan2(StyleGAN2Model(net, name), out_dir, extra=info)
