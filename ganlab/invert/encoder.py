"""An image encoder E for StyleGAN2: one forward pass gives ws, a starting point the projector refines.

E is a small conv net trained against a frozen generator G: on generated pairs (z -> ws -> img, E(img)
should give back ws and re-synthesise img) and on real rendered images (E -> G should reproduce them).
It predicts `w_avg + delta`, so an untrained E already starts at the projector's usual mean-w start.
Saved as `config.json` + `model.safetensors`, tied to the generator it was trained for.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Iterator

import torch
import torch.nn as nn
import torch.nn.functional as F

from ganlab.errors import GanlabError
from ganlab.imaging import from_uint8
from ganlab.invert.netio import (Renderer, TrainProgress, TrainState, check_tied, face_renderer, load_net,
                                 resume_train_state, run_net_weights, save_net, save_train_state, show_progress,
                                 stage_lr, training_distance)
from ganlab.models.base import check_shape
from ganlab.models.folder import ENCODER, has_helper, helper_path
from ganlab.models.stylegan2_model import StyleGAN2Model

MODEL_TYPE = "ganlab-encoder"


@dataclass
class EncoderConfig:
    """The encoder's shape and the generator it belongs to (saved as JSON beside the weights)."""

    model_id: str
    resolution: int
    num_ws: int
    w_dim: int
    channel_base: int = 1024    # channels at resolution r: min(channel_base // r, channel_max)
    channel_max: int = 128
    hidden: int = 512           # width of the fully connected layer before the ws head

    @classmethod
    def for_model(cls, model: StyleGAN2Model, **overrides) -> "EncoderConfig":
        return cls(model_id=model.name, resolution=model.resolution, num_ws=model.num_ws, w_dim=model.w_dim,
                   **overrides)


def conv_trunk(resolution: int, channel_base: int, channel_max: int, hidden: int) -> nn.Sequential:
    """img [N, 3, R, R] -> features [N, hidden]: stride-2 convs down to 4x4, then one fully connected layer.

    Resolution r gets min(channel_base // r, channel_max) channels (at least 8).
    """
    def channels(res: int) -> int:
        return max(8, min(channel_base // res, channel_max))

    layers: list[nn.Module] = [nn.Conv2d(3, channels(resolution), 3, padding=1), nn.LeakyReLU(0.2)]
    res = resolution
    while res > 4:
        layers += [nn.Conv2d(channels(res), channels(res // 2), 4, stride=2, padding=1), nn.LeakyReLU(0.2)]
        res //= 2
    return nn.Sequential(*layers, nn.Flatten(), nn.Linear(channels(4) * 16, hidden), nn.LeakyReLU(0.2))


class Encoder(nn.Module):
    """img [N, 3, R, R] in [-1, 1] -> ws [N, num_ws, w_dim] = w_avg + delta."""

    def __init__(self, cfg: EncoderConfig):
        super().__init__()
        self.cfg = cfg
        self.trunk = conv_trunk(cfg.resolution, cfg.channel_base, cfg.channel_max, cfg.hidden)
        self.head = nn.Linear(cfg.hidden, cfg.num_ws * cfg.w_dim)
        with torch.no_grad():  # start close to w_avg: a small first step, not a random latent
            self.head.weight.mul_(0.1)
            self.head.bias.zero_()
        self.register_buffer("w_avg", torch.zeros(cfg.w_dim))

    def forward(self, img: torch.Tensor) -> torch.Tensor:
        check_shape("img", img, [None, 3, self.cfg.resolution, self.cfg.resolution])
        delta = self.head(self.trunk(img))
        return self.w_avg + delta.view(-1, self.cfg.num_ws, self.cfg.w_dim)

    def encode_w(self, img: torch.Tensor) -> torch.Tensor:
        """A single w [N, w_dim] per image (the layer mean), for the `w` space."""
        return self(img).mean(1)


def build_encoder(model: StyleGAN2Model, cfg: EncoderConfig | None = None) -> Encoder:
    """A fresh encoder for `model`, its offset set to the model's mean w."""
    enc = Encoder(cfg or EncoderConfig.for_model(model))
    check_fits(enc, model)
    enc.w_avg.copy_(model.w_stats(n=2000)[0][0].cpu())
    return enc.to(model.device)


def check_fits(enc: Encoder, model: StyleGAN2Model, own: bool = False) -> None:
    """Refuse a net made for another generator; `own`: found in `model`'s folder, so made for it whatever
    the model is called now (only the sizes must agree)."""
    c = enc.cfg
    if own:
        c.model_id = model.name
    check_tied("encoder", c.model_id, model.name, {"num_ws": (c.num_ws, model.num_ws), "w_dim": (c.w_dim, model.w_dim),
                                                   "resolution": (c.resolution, model.resolution)}, "train-encoder")


def save_encoder(enc: Encoder, folder: Path | str) -> Path:
    return save_net(enc, MODEL_TYPE, enc.cfg, folder)


def load_encoder(folder: Path | str, model: StyleGAN2Model, own: bool = False) -> Encoder:
    """Read a folder written by `save_encoder`, refusing one made for a different generator (`check_fits`)."""
    enc = load_net(folder, {MODEL_TYPE: lambda cfg: Encoder(EncoderConfig(**cfg))}, "encoder")
    check_fits(enc, model, own)
    return enc.to(model.device)


def find_encoder(model: StyleGAN2Model) -> Encoder | None:
    """The encoder in `model`'s folder, or None when there is none (hybrid inversion then falls back)."""
    return load_encoder(helper_path(model, ENCODER), model, own=True) if has_helper(model, ENCODER) else None


# --- training -------------------------------------------------------------------------------------


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
    device = torch.device(device)
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    model.to(device)
    model.net.requires_grad_(False)
    render = render or face_renderer(model.resolution)
    distance = training_distance(tcfg.distance, device)
    torch.manual_seed(tcfg.seed)
    enc = build_encoder(model, ecfg).train()
    state = TrainState(enc, torch.optim.Adam(enc.parameters(), lr=tcfg.lr, betas=(0.9, 0.99)))
    resume_train_state(state, run_dir, device, tcfg.steps)
    start_step, started = state.step, time.perf_counter()
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
        state.opt.zero_grad(set_to_none=True)
        total.backward()
        stage_lr(state, tcfg.lr, tcfg.anneal)
        state.opt.step()

        state.step += 1
        elapsed = time.perf_counter() - started
        record = TrainProgress(step=state.step, total=tcfg.steps,
                                 losses={"total": total.item(), **{k: v.item() for k, v in losses.items()}},
                                 eta_s=elapsed / (state.step - start_step) * (tcfg.steps - state.step),
                                 distance_name=distance.name)
        if state.step % tcfg.checkpoint_every == 0 or state.step == tcfg.steps:
            record.checkpoint = save_train_state(state, run_dir, {"encoder": asdict(enc.cfg), "training": asdict(tcfg)})
        yield record


def export_encoder(run_dir: Path | str, out_dir: Path | str, model: StyleGAN2Model) -> Path:
    """Write the run's encoder in the shipped format (safetensors + JSON config)."""
    meta, weights = run_net_weights(run_dir)
    enc = Encoder(EncoderConfig(**meta["encoder"]))
    check_fits(enc, model)
    enc.load_state_dict(weights)
    return save_encoder(enc, out_dir)


def run_train_encoder(model_id: str, steps: int, batch: int, run_dir: Path | str | None, export: bool,
                      device: str | None, lr: float = 1e-3, real_weight: float = 1.0, anneal: bool = False) -> int:
    """`python -m ganlab train-encoder --model NAME`: train (resuming), optionally export to the model's folder.

    StyleGAN2 models get an image -> ws encoder; BigGAN models an image -> (z, class) encoder. Resuming
    to more steps with other `lr` / `real_weight` / `anneal` is a new stage (e.g. a final annealed fine-tune).
    """
    if not (lr > 0 and real_weight >= 0):
        raise GanlabError(f"--lr must be positive and --real-weight at least 0 (got {lr}, {real_weight})")
    stage = {"steps": steps, "batch": batch, "lr": lr, "real_weight": real_weight, "anneal": anneal}
    from ganlab.models.pool import default_device
    from ganlab.models.registry import Registry, load_model

    model = load_model(Registry(), model_id)
    run_dir = Path(run_dir or f"runs/encoder-{model_id}")
    device = device or default_device()
    if model.kind == "biggan":
        from ganlab.invert.object_encoder import (ObjectEncoderTrainConfig, export_object_encoder,
                                                  train_object_encoder)

        records = train_object_encoder(model, ObjectEncoderTrainConfig(**stage), run_dir, device)
        exporter = export_object_encoder
    else:
        records = train_encoder(model, EncoderTrainConfig(**stage), run_dir, device=device)
        exporter = export_encoder
    show_progress(records, steps, f"training the encoder for {model_id}")
    if export:
        print(f"exported the encoder to {exporter(run_dir, helper_path(model, ENCODER), model)}")
    return 0
