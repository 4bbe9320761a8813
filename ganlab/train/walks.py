"""Learning the latent walks (zoom, slides ...) of a BigGAN model (see `ganlab.augment.walks`)."""

from __future__ import annotations

import math
import threading
import time
from typing import Any, Iterator

import numpy as np
import torch

from ganlab.augment.transforms import EDIT_LOSS_NAME, TRANSFORMS, edit, masked_l2, spec
from ganlab.augment.walks import Walk, WalkSet
from ganlab.errors import GanlabError
from ganlab.invert.projector import ProjectionStep
from ganlab.models.biggan import BigGANModel


def train_walks(model: BigGANModel, transforms: list[str] | None = None, steps: int = 300, batch: int = 8,
                lr: float = 0.05, truncation: float = 1.0, seed: int = 0, per_class: bool = True,
                init: WalkSet | None = None,
                cancel: threading.Event | None = None) -> Iterator[ProjectionStep | WalkSet]:
    """Train one walk per transformation, with per-class offsets when `per_class`, starting from zero or
    from `init`'s walks (to train further); yields a `ProjectionStep` per step (loss per transformation)
    and the `WalkSet` last. A cancelled run still yields the walks trained so far."""
    if model.kind != "biggan":
        raise GanlabError(f"learned walks are for BigGAN models; {model.name} is a {model.kind} model")
    if steps < 1 or batch < 1:
        raise GanlabError("steps and batch must be at least 1")
    transforms = list(transforms or TRANSFORMS)
    specs = [spec(name) for name in transforms]
    device = model.device
    gen = torch.Generator().manual_seed(seed)
    vectors = torch.zeros(len(specs), model.z_dim, device=device)
    offsets = torch.zeros(len(specs), model.num_classes, model.z_dim, device=device)
    if init is not None:
        classes = {w.class_offsets.shape[0] for w in init.walks.values() if w.class_offsets is not None}
        if init.model_id != model.name or init.z_dim != model.z_dim or not classes <= {model.num_classes}:
            raise GanlabError(f"cannot start from walks trained for {init.model_id!r}: this is {model.name!r}")
        for i, name in enumerate(transforms):
            if name in init.walks:
                vectors[i] = torch.from_numpy(init.walks[name].vector)
                if init.walks[name].class_offsets is not None:
                    offsets[i] = torch.from_numpy(init.walks[name].class_offsets)
    params = [vectors.requires_grad_()] + ([offsets.requires_grad_()] if per_class else [])
    optimizer = torch.optim.Adam(params, lr=lr)
    started, history, done = time.perf_counter(), [], 0
    for step in range(steps):
        if cancel is not None and cancel.is_set():
            break
        z = model.sample_z(batch, seed=seed * 1_000_003 + step, truncation=truncation)
        classes = torch.randint(model.num_classes, (batch,), generator=gen)
        c = torch.nn.functional.one_hot(classes, model.num_classes).float().to(device)
        with torch.no_grad():
            base = model.synthesize(z, c=c, truncation=truncation)
        alphas, targets, masks = [], [], []
        for s in specs:
            lo, hi = s.alpha_range()
            alpha = lo + (hi - lo) * torch.rand(batch, generator=gen)
            result = edit(base, s.name, torch.exp(alpha) if s.log_alpha else alpha)
            alphas.append(alpha.to(device))
            targets.append(result.img)
            masks.append(result.mask)
        moved = torch.cat([z + a[:, None] * (v + c @ o) for a, v, o in zip(alphas, vectors, offsets)])
        out = model.synthesize(moved, c=c.repeat(len(specs), 1), truncation=truncation)
        err = masked_l2(out, torch.cat(targets), torch.cat(masks))
        per_transform = err.view(len(specs), batch).mean(1)
        grads = torch.autograd.grad(per_transform.sum(), params)
        for p, g in zip(params, grads):
            p.grad = g
        optimizer.step()
        done = step + 1
        losses = {name: float(v) for name, v in zip(transforms, per_transform.detach().cpu())}
        history.append(losses)
        if not all(math.isfinite(v) for v in losses.values()):
            raise GanlabError(f"walk training diverged at step {done} (loss NaN/inf); try a lower learning rate")
        elapsed = time.perf_counter() - started
        yield ProjectionStep(step=done, total=steps, losses=losses, distance_name=EDIT_LOSS_NAME,
                             eta_s=elapsed / done * (steps - done))
    tail = history[-max(1, len(history) // 10):]
    with_offsets = per_class or bool(offsets.detach().abs().sum() > 0)
    walks = {s.name: Walk(s.name, vectors[i].detach().cpu().numpy().copy(),
                          "log(magnitude)" if s.log_alpha else "magnitude", s.alpha_range(),
                          float(np.mean([h[s.name] for h in tail])) if tail else float("nan"),
                          offsets[i].detach().cpu().numpy().copy() if with_offsets else None)
             for i, s in enumerate(specs)}
    run: dict[str, Any] = {"steps": done, "batch": batch, "lr": lr, "seed": seed, "per_class": per_class,
                           "seconds": round(time.perf_counter() - started, 1)}
    if with_offsets and not per_class:
        run["class_offsets"] = "kept from the init walks, not trained"
    if init is not None:
        run["started_from"] = init.run
    yield WalkSet(model.name, model.z_dim, walks, truncation, run)
