"""Training the landscape map of a StyleGAN2 model (see `ganlab.invert.landscape`)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Iterator

import torch
import torch.nn.functional as F

from ganlab.imaging import from_uint8
from ganlab.invert.landscape import (LandscapeConfig, LandscapeMap, _descend, build_landscape, check_fits,
                                     save_landscape)
from ganlab.models.stylegan2_model import StyleGAN2Model
from ganlab.train.runs import Renderer, TrainProgress, begin_run, export_run, face_renderer


@dataclass
class LandscapeTrainConfig:
    """Everything that decides a training run; saved in the run folder."""

    steps: int = 1000           # theta updates
    batch: int = 8              # targets per recorded trajectory batch
    inner_steps: int = 10       # Adam steps on u per recorded trajectory (the budget theta is shaped for)
    inner_lr: float = 0.1
    updates_per_trajectory: int = 2   # theta updates drawn from the buffer per new trajectory batch
    buffer_batches: int = 8     # trajectory batches kept (older ones are dropped)
    sample: int = 16            # (u, target) pairs per theta update
    lr: float = 1e-4
    pixel_weight: float = 1.0   # pixel MSE beside the image distance
    distance: str = "fallback"  # 'fallback' (fast on CPU) or 'lpips'
    seed: int = 0
    checkpoint_every: int = 100


def train_landscape(model: StyleGAN2Model, tcfg: LandscapeTrainConfig, run_dir: Path | str,
                    device: torch.device | str = "cpu", render: Renderer | None = None,
                    lcfg: LandscapeConfig | None = None) -> Iterator[TrainProgress]:
    """Train theta against frozen `model`, resuming from `run_dir/checkpoint.pt` when present.

    `render(n, seed)` gives the targets (default: toy faces at the model's resolution). The
    recorded trajectories start at u = 0, as `landscape_project` does.
    """
    render = render or face_renderer(model.resolution)
    run = begin_run(model, lambda: build_landscape(model, lcfg), tcfg, run_dir, device)
    state, lmap, distance, device = run.state, run.state.net, run.distance, run.device
    buffer: list[tuple[torch.Tensor, torch.Tensor]] = []  # (u [K, u_dim], target [K, 3, R, R]) per batch
    gen = torch.Generator().manual_seed(tcfg.seed * 7919 + state.step)
    inner: dict[str, float] = {}
    while state.step < tcfg.steps:
        if state.step % tcfg.updates_per_trajectory == 0 or not buffer:
            target = from_uint8(render(tcfg.batch, tcfg.seed * 1_000_003 + state.step)).to(device)
            u0 = torch.zeros(tcfg.batch, lmap.cfg.u_dim, device=device)
            points, dists = [], []
            for u, _, dist in _descend(model, lmap, target, tcfg.inner_steps, tcfg.inner_lr, distance, u0):
                points.append(u)
                if dist is not None:
                    dists.append(dist.mean().item())
            inner = {"inner_first": dists[0], "inner_last": dists[-1]}
            buffer.append((torch.cat(points), target.repeat(len(points), 1, 1, 1)))
            buffer = buffer[-tcfg.buffer_batches:]
            us, targets = torch.cat([b[0] for b in buffer]), torch.cat([b[1] for b in buffer])
        pick = torch.randint(len(us), (tcfg.sample,), generator=gen).to(device)
        img = model.net.synthesis(lmap(us[pick]), noise_mode="const")
        dist = distance(img, targets[pick]).mean()
        pixel = F.mse_loss(img, targets[pick])
        loss = dist + tcfg.pixel_weight * pixel
        yield run.step(loss, tcfg, {"total": loss.item(), "distance": dist.item(), "pixel": pixel.item(), **inner},
                         {"landscape": asdict(lmap.cfg)})


def export_landscape(run_dir: Path | str, out_dir: Path | str, model: StyleGAN2Model) -> Path:
    """Write the run's theta in the shipped format (safetensors + JSON config)."""
    return export_run(run_dir, "landscape", lambda cfg: LandscapeMap(LandscapeConfig(**cfg)),
                      lambda lmap: check_fits(lmap, model), save_landscape, out_dir)
