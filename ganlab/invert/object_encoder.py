"""An encoder for BigGAN models: image -> (z, class), the starting point BigGAN inversion refines.

Trained against a frozen BigGAN on generated pairs (class y and z -> img; E must give back z and y,
and G(E's z, y) must re-synthesise img) and on rendered images with their true class (E's class must
be right, G(E's z, class) must look like them). Saved like the StyleGAN2 encoder, tied to its model.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn as nn

from ganlab.invert.encoder import conv_trunk
from ganlab.invert.netio import check_tied, load_net, save_net
from ganlab.models.base import check_shape
from ganlab.models.biggan import Z_BOUND, BigGANModel, find_class
from ganlab.models.folder import ENCODER, has_helper, helper_path

MODEL_TYPE = "ganlab-object-encoder"


@dataclass
class ObjectEncoderConfig:
    """The encoder's shape and the BigGAN it belongs to (saved as JSON beside the weights)."""

    model_id: str
    resolution: int
    z_dim: int
    num_classes: int
    channel_base: int = 1024
    channel_max: int = 128
    hidden: int = 512

    @classmethod
    def for_model(cls, model: BigGANModel, **overrides) -> "ObjectEncoderConfig":
        return cls(model_id=model.name, resolution=model.resolution, z_dim=model.z_dim,
                   num_classes=model.num_classes, **overrides)


class ObjectEncoder(nn.Module):
    """img [N, 3, R, R] in [-1, 1] -> (z [N, z_dim] within BigGAN's [-2, 2] range, class logits [N, classes])."""

    def __init__(self, cfg: ObjectEncoderConfig):
        super().__init__()
        self.cfg = cfg
        self.trunk = conv_trunk(cfg.resolution, cfg.channel_base, cfg.channel_max, cfg.hidden)
        self.z_head = nn.Linear(cfg.hidden, cfg.z_dim)
        self.class_head = nn.Linear(cfg.hidden, cfg.num_classes)

    def forward(self, img: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        check_shape("img", img, [None, 3, self.cfg.resolution, self.cfg.resolution])
        h = self.trunk(img)
        return Z_BOUND * torch.tanh(self.z_head(h)), self.class_head(h)


def check_fits(enc: ObjectEncoder, model: BigGANModel, own: bool = False) -> None:
    """Refuse a net made for another generator; `own`: found in `model`'s folder, so made for it whatever
    the model is called now (only the sizes must agree)."""
    c = enc.cfg
    if own:
        c.model_id = model.name
    check_tied("encoder", c.model_id, model.name, {"z_dim": (c.z_dim, model.z_dim),
                                                   "classes": (c.num_classes, model.num_classes),
                                                   "resolution": (c.resolution, model.resolution)}, "train-encoder")


def save_object_encoder(enc: ObjectEncoder, folder: Path | str) -> Path:
    return save_net(enc, MODEL_TYPE, enc.cfg, folder)


def load_object_encoder(folder: Path | str, model: BigGANModel, own: bool = False) -> ObjectEncoder:
    enc = load_net(folder, {MODEL_TYPE: lambda cfg: ObjectEncoder(ObjectEncoderConfig(**cfg))}, "object encoder")
    check_fits(enc, model, own)
    return enc.to(model.device)


def find_object_encoder(model: BigGANModel) -> ObjectEncoder | None:
    """The encoder in `model`'s folder, or None."""
    return load_object_encoder(helper_path(model, ENCODER), model, own=True) if has_helper(model, ENCODER) else None


@torch.no_grad()
def encode(enc: ObjectEncoder, model: BigGANModel, target: torch.Tensor,
           truncation: float = 1.0) -> tuple[torch.Tensor, torch.Tensor]:
    """(z [N, z_dim] inside the truncation range, class index [N]) for `target` (`img` in [-1, 1])."""
    check_fits(enc, model)
    z, logits = enc.to(model.device).eval()(target.to(model.device, torch.float32))
    bound = Z_BOUND * truncation
    return z.clamp(-bound, bound), logits.argmax(1)


def encoder_start(enc: ObjectEncoder, model: BigGANModel, target: torch.Tensor, cls: str | int = "auto",
                  truncation: float = 1.0) -> tuple[torch.Tensor, torch.Tensor]:
    """`invert`'s `init` from encoder `enc`: its z and its class, or class `cls` when one is given."""
    z, classes = encode(enc, model, target, truncation)
    if not (isinstance(cls, str) and cls.strip().lower() == "auto"):
        classes = torch.full_like(classes, find_class(cls, model.class_names))
    return z, classes
