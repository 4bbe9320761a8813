"""Training the BigGAN object encoder, image -> (z, class), against its frozen generator (see
`ganlab.invert.object_encoder`)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Iterator

import numpy as np
import torch
import torch.nn.functional as F

from ganlab.imaging import from_uint8
from ganlab.invert.biggan import truncated_normal
from ganlab.invert.object_encoder import ObjectEncoder, ObjectEncoderConfig, check_fits, save_object_encoder
from ganlab.models.biggan import BigGANModel
from ganlab.train.runs import LabelledRenderer, TrainProgress, begin_run, export_run


@dataclass
class ObjectEncoderTrainConfig:
    steps: int = 2000
    batch: int = 16
    lr: float = 1e-3
    latent_weight: float = 1.0      # MSE between E's z and the true z of a generated image
    class_weight: float = 1.0       # cross-entropy of E's class
    pixel_weight: float = 1.0       # L1 of the re-synthesised image
    distance_weight: float = 1.0    # image distance (fallback or LPIPS) of the re-synthesised image
    real_weight: float = 1.0        # weight of the rendered-image branch (0 = generated pairs only)
    anneal: bool = False            # cosine-decay lr over this stage (netio.stage_lr)
    distance: str = "fallback"
    seed: int = 0
    checkpoint_every: int = 100


def _default_render(resolution: int, num_classes: int) -> LabelledRenderer:
    from ganlab.data.toyobjects import render_objects

    def render(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
        images, attrs = render_objects(n, seed, size=resolution, classes=list(range(num_classes)))
        return images, np.array([a.cls for a in attrs])

    return render


def train_object_encoder(model: BigGANModel, tcfg: ObjectEncoderTrainConfig, run_dir: Path | str,
                         device: torch.device | str = "cpu", render: LabelledRenderer | None = None,
                         ecfg: ObjectEncoderConfig | None = None) -> Iterator[TrainProgress]:
    """Train E against frozen `model`, resuming from `run_dir/checkpoint.pt` when present.

    `render(n, seed)` gives labelled real images (default: toy objects of the model's classes).
    """
    render = render or _default_render(model.resolution, model.num_classes)

    def build() -> ObjectEncoder:
        enc = ObjectEncoder(ecfg or ObjectEncoderConfig.for_model(model))
        check_fits(enc, model)
        return enc

    run = begin_run(model, build, tcfg, run_dir, device)
    state, enc, distance, device = run.state, run.state.net, run.distance, run.device

    def resynthesis_losses(z_hat: torch.Tensor, classes: torch.Tensor, img: torch.Tensor) -> tuple:
        recon = model.synthesize(z_hat, c=F.one_hot(classes, model.num_classes).float())
        return (recon - img).abs().mean(), distance(recon, img).mean()

    while state.step < tcfg.steps:
        data_seed = tcfg.seed * 1_000_003 + state.step
        gen = torch.Generator().manual_seed(data_seed)
        with torch.no_grad():
            y = torch.randint(model.num_classes, (tcfg.batch,), generator=gen).to(device)
            z = truncated_normal((tcfg.batch, model.z_dim), 1.0, gen).to(device)
            fake = model.synthesize(z, c=F.one_hot(y, model.num_classes).float()).clamp(-1, 1)
        z_hat, logits = enc(fake)
        pixel, dist = resynthesis_losses(z_hat, y, fake)
        losses = {"latent": F.mse_loss(z_hat, z), "class": F.cross_entropy(logits, y), "pixel_gen": pixel,
                  "dist_gen": dist}
        total = (tcfg.latent_weight * losses["latent"] + tcfg.class_weight * losses["class"]
                 + tcfg.pixel_weight * pixel + tcfg.distance_weight * dist)
        if tcfg.real_weight > 0:
            images, labels = render(tcfg.batch, data_seed)
            real, labels = from_uint8(images).to(device), torch.as_tensor(labels, device=device)
            z_real, logits_real = enc(real)
            pixel, dist = resynthesis_losses(z_real, labels, real)
            losses |= {"class_real": F.cross_entropy(logits_real, labels), "pixel_real": pixel, "dist_real": dist}
            total = total + tcfg.real_weight * (tcfg.class_weight * losses["class_real"] + tcfg.pixel_weight * pixel
                                                + tcfg.distance_weight * dist)
        yield run.step(total, tcfg, {"total": total.item(), **{k: v.item() for k, v in losses.items()}},
                       {"encoder": asdict(enc.cfg)}, tcfg.anneal)


def export_object_encoder(run_dir: Path | str, out_dir: Path | str, model: BigGANModel) -> Path:
    return export_run(run_dir, "encoder", lambda cfg: ObjectEncoder(ObjectEncoderConfig(**cfg)),
                      lambda enc: check_fits(enc, model), save_object_encoder, out_dir)
