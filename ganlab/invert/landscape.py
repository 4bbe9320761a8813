"""Landscape learning (Liu et al., "Landscape Learning for Neural Network Inversion", 2022).

A small network theta maps a search variable u [N, u_dim] to ws [N, num_ws, w_dim]. It is trained on
the optimisation trajectories it produces itself: for a batch of targets, a few Adam steps on u
through G(theta(u)) are recorded, and theta is then updated so that *every* point on those
trajectories reconstructs its target well. After training, gradient descent in u reaches a good
latent in far fewer steps than descent in w+ from the mean w, because theta has reshaped the loss
landscape around where the descent goes.

Inverting with it (`landscape_project`) is a projector mode: the same step records and result.
Saved as `config.json` + `model.safetensors`, tied to the generator it was trained for.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import torch
import torch.nn as nn

from ganlab.errors import GanlabError
from ganlab.imaging import to_uint8
from ganlab.invert.losses import Distance, lpips_distance
from ganlab.invert.netio import check_tied, load_net, save_net
from ganlab.invert.projector import ProjectionResult, ProjectionStep, result_from_ws
from ganlab.models.base import check_shape
from ganlab.models.folder import LANDSCAPE, has_helper, helper_path
from ganlab.models.stylegan2_model import StyleGAN2Model

MODEL_TYPE = "ganlab-landscape"


@dataclass
class LandscapeConfig:
    """theta's shape and the generator it belongs to (saved as JSON beside the weights)."""

    model_id: str
    num_ws: int
    w_dim: int
    resolution: int
    hidden: int = 512
    depth: int = 2          # hidden layers of the learned correction

    @property
    def u_dim(self) -> int:
        return self.num_ws * self.w_dim


class LandscapeMap(nn.Module):
    """theta: u [N, num_ws * w_dim] -> ws [N, num_ws, w_dim] = w_avg + w_scale * u + MLP(u).

    u is a whitened w+ offset. The MLP's last layer starts at zero, so an untrained theta is plain w+
    descent (from the mean w, without noise maps); training learns the correction that reshapes it.
    """

    def __init__(self, cfg: LandscapeConfig):
        super().__init__()
        self.cfg = cfg
        layers: list[nn.Module] = []
        width = cfg.u_dim
        for _ in range(cfg.depth):
            layers += [nn.Linear(width, cfg.hidden), nn.LeakyReLU(0.2)]
            width = cfg.hidden
        self.mlp = nn.Sequential(*layers)
        self.head = nn.Linear(width, cfg.u_dim)
        with torch.no_grad():
            self.head.weight.zero_()
            self.head.bias.zero_()
        self.register_buffer("w_avg", torch.zeros(cfg.w_dim))
        self.register_buffer("w_scale", torch.ones(()))

    def forward(self, u: torch.Tensor) -> torch.Tensor:
        check_shape("u", u, [None, self.cfg.u_dim])
        ws = self.w_scale * u + self.head(self.mlp(u))
        return self.w_avg + ws.view(-1, self.cfg.num_ws, self.cfg.w_dim)


def check_fits(lmap: LandscapeMap, model: StyleGAN2Model, own: bool = False) -> None:
    """Refuse a net made for another generator; `own`: found in `model`'s folder, so made for it whatever
    the model is called now (only the sizes must agree)."""
    c = lmap.cfg
    if own:
        c.model_id = model.name
    check_tied("landscape map", c.model_id, model.name, {"num_ws": (c.num_ws, model.num_ws),
                                                         "w_dim": (c.w_dim, model.w_dim),
                                                         "resolution": (c.resolution, model.resolution)},
               "train-landscape")


def build_landscape(model: StyleGAN2Model, cfg: LandscapeConfig | None = None) -> LandscapeMap:
    """A fresh theta for `model`, its offset set to the model's mean w."""
    cfg = cfg or LandscapeConfig(model_id=model.name, num_ws=model.num_ws, w_dim=model.w_dim,
                                 resolution=model.resolution)
    lmap = LandscapeMap(cfg)
    check_fits(lmap, model)
    w_avg, w_std = model.w_stats(n=2000)
    lmap.w_avg.copy_(w_avg[0].cpu())
    lmap.w_scale.fill_(w_std / model.w_dim ** 0.5)  # the per-dimension spread of w
    return lmap.to(model.device)


def save_landscape(lmap: LandscapeMap, folder: Path | str) -> Path:
    return save_net(lmap, MODEL_TYPE, lmap.cfg, folder)


def load_landscape(folder: Path | str, model: StyleGAN2Model, own: bool = False) -> LandscapeMap:
    """Read a folder written by `save_landscape`, refusing one made for a different generator (`check_fits`)."""
    lmap = load_net(folder, {MODEL_TYPE: lambda cfg: LandscapeMap(LandscapeConfig(**cfg))}, "landscape")
    check_fits(lmap, model, own)
    return lmap.to(model.device)


def find_landscape(model: StyleGAN2Model) -> LandscapeMap | None:
    """The theta in `model`'s folder, or None when there is none."""
    return load_landscape(helper_path(model, LANDSCAPE), model, own=True) if has_helper(model, LANDSCAPE) else None


# --- inversion ------------------------------------------------------------------------------------


def _descend(model: StyleGAN2Model, lmap: LandscapeMap, target: torch.Tensor, steps: int, lr: float,
             distance: Distance, u0: torch.Tensor) -> Iterator[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
    """Adam on u through G(theta(u)); yields (u before the step, image, per-target distance) each step.

    theta's parameters get no gradient here: only u moves. The same loop records trajectories in
    training and inverts at use time, so theta is trained for exactly the descent it will see.
    """
    u = u0.clone().requires_grad_(True)
    opt = torch.optim.Adam([u], lr=lr, betas=(0.9, 0.999))
    for _ in range(steps):
        img = model.net.synthesis(lmap(u), noise_mode="const")
        dist = distance(img, target)
        (grad,) = torch.autograd.grad(dist.sum(), u)
        yield u.detach().clone(), img.detach(), dist.detach()
        opt.zero_grad(set_to_none=True)
        u.grad = grad
        opt.step()
    yield u.detach().clone(), None, None


def landscape_project(model: StyleGAN2Model, lmap: LandscapeMap, target: torch.Tensor, steps: int = 50,
                      lr: float = 0.1, distance: Distance | None = None, preview_every: int = 5,
                      cancel: threading.Event | None = None) -> Iterator[ProjectionStep | ProjectionResult]:
    """Invert `target` (`img` [N, 3, R, R] in [-1, 1]) by `steps` Adam steps on u from u = 0.

    Yields `ProjectionStep` records and a `ProjectionResult` (w+ latents, the model's constant noise).
    """
    check_fits(lmap, model)
    check_shape("target", target, [None, 3, model.resolution, model.resolution])
    if steps < 0:
        raise GanlabError("steps must be 0 or more")
    distance = distance or lpips_distance(model.device)
    target = target.to(model.device, torch.float32)
    lmap = lmap.to(model.device).eval().requires_grad_(False)
    u0 = torch.zeros(target.shape[0], lmap.cfg.u_dim, device=model.device)
    started, history, stopped, u = time.perf_counter(), [], "", u0
    for step, (u, img, dist) in enumerate(_descend(model, lmap, target, steps, lr, distance, u0)):
        if img is None:
            break
        if cancel is not None and cancel.is_set():
            stopped = "cancelled"
            break
        history.append({"step": step + 1, "distance": dist.mean().item()})
        preview = to_uint8(img.clamp(-1, 1)) if preview_every and step % preview_every == 0 else None
        elapsed = time.perf_counter() - started
        yield ProjectionStep(step=step + 1, total=steps, losses={"distance": history[-1]["distance"]},
                             distance_name=distance.name, eta_s=elapsed / (step + 1) * (steps - step - 1),
                             preview=preview, note="; ".join(filter(None, ["landscape", distance.why])))
    with torch.no_grad():
        ws = lmap(u)
    yield result_from_ws(model, ws, target, distance, steps_run=len(history), stopped=stopped, history=history)
