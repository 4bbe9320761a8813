"""An image encoder E for StyleGAN2: one forward pass gives ws, a starting point the projector refines.

E is a small conv net trained against a frozen generator G: on generated pairs (z -> ws -> img, E(img)
should give back ws and re-synthesise img) and on real rendered images (E -> G should reproduce them).
It predicts `w_avg + delta`, so an untrained E already starts at the projector's usual mean-w start.
Saved as `config.json` + `model.safetensors`, tied to the generator it was trained for.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn as nn

from ganlab.invert.netio import check_tied, load_net, save_net
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
