"""Training the StyleGAN2 image encoder against its frozen generator (see `ganlab.invert.encoder`)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Iterator

import torch
import torch.nn.functional as F

from ganlab.imaging import from_uint8
from ganlab.invert.encoder import Encoder, EncoderConfig, build_encoder, check_fits, save_encoder
from ganlab.models.stylegan2_model import StyleGAN2Model
from ganlab.train.runs import Renderer, TrainProgress, begin_run, export_run, face_renderer


@dataclass
class EncoderTrainConfig:
    """Everything that decides a training run; saved in the run folder."""

    steps: int = 3000
    batch: int = 16
    lr: float = 1e-3
    latent_weight: float = 10.0     # MSE between E(G(ws)) and ws: the direct signal, so weighted up
    pixel_weight: float = 1.0       # pixel MSE of the re-synthesised image ([-1, 1] scale)
    distance_weight: float = 1.0    # image distance (fallback MSE + 1 - SSIM, or LPIPS)
    real_weight: float = 1.0        # weight of the real-image branch (0 = generated pairs only)
    anneal: bool = False            # cosine-decay lr over this stage (netio.stage_lr): for a final fine-tune
    distance: str = "fallback"      # 'fallback' (fast on CPU) or 'lpips' (falls back itself when offline)
    seed: int = 0
    checkpoint_every: int = 100


def train_encoder(model: StyleGAN2Model, tcfg: EncoderTrainConfig, run_dir: Path | str,
                  device: torch.device | str = "cpu", render: Renderer | None = None,
                  ecfg: EncoderConfig | None = None) -> Iterator[TrainProgress]:
    """Train E against frozen `model`, resuming from `run_dir/checkpoint.pt` when present.

    `render(n, seed)` gives the real images (default: toy faces at the model's resolution).
    """
    render = render or face_renderer(model.resolution)
    run = begin_run(model, lambda: build_encoder(model, ecfg), tcfg, run_dir, device)
    state, enc, distance, device = run.state, run.state.net, run.distance, run.device
    synthesis = model.net.synthesis
    while state.step < tcfg.steps:
        data_seed = tcfg.seed * 1_000_003 + state.step
        with torch.no_grad():  # targets: G is frozen and needs no graph
            z = torch.randn(tcfg.batch, model.z_dim, generator=torch.Generator().manual_seed(data_seed))
            ws = model.mapping(z.to(device))
            fake = synthesis(ws, noise_mode="const").clamp(-1, 1)
        ws_hat = enc(fake)
        recon = synthesis(ws_hat, noise_mode="const")
        losses = {"latent": F.mse_loss(ws_hat, ws), "pixel_gen": F.mse_loss(recon, fake),
                  "dist_gen": distance(recon, fake).mean()}
        total = (losses["latent"] * tcfg.latent_weight + losses["pixel_gen"] * tcfg.pixel_weight
                 + losses["dist_gen"] * tcfg.distance_weight)
        if tcfg.real_weight > 0:
            real = from_uint8(render(tcfg.batch, data_seed)).to(device)
            recon_real = synthesis(enc(real), noise_mode="const")
            losses["pixel_real"] = F.mse_loss(recon_real, real)
            losses["dist_real"] = distance(recon_real, real).mean()
            total = total + tcfg.real_weight * (losses["pixel_real"] * tcfg.pixel_weight
                                                + losses["dist_real"] * tcfg.distance_weight)
        yield run.step(total, tcfg, {"total": total.item(), **{k: v.item() for k, v in losses.items()}},
                       {"encoder": asdict(enc.cfg)}, tcfg.anneal)


def export_encoder(run_dir: Path | str, out_dir: Path | str, model: StyleGAN2Model) -> Path:
    """Write the run's encoder in the shipped format (safetensors + JSON config)."""
    return export_run(run_dir, "encoder", lambda cfg: Encoder(EncoderConfig(**cfg)),
                      lambda enc: check_fits(enc, model), save_encoder, out_dir)
