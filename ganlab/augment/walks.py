"""Learned latent walks ("On the steerability of GANs", Jahanian et al., 2020).

For each transformation t, one vector w_t in z space is trained so that G(z + alpha * w_t, c) looks
like edit(G(z, c), magnitude(alpha)) on the pixels the edit defines (masked L2), for random z, c and
alpha drawn uniformly over the transformation's range: alpha = magnitude, or log(magnitude) for zoom,
so that alpha = 0 is always the identity and zooms compose additively. All transformations train
together, one generator batch per step. The model is never modified (gradients are taken for the
walks only), so a shared model can keep serving while walks train.

Walks are saved as `.npz`: `vectors` [T, z_dim] and `meta`, a JSON string naming the model, the
transformations, their alpha parametrisation and range, and the run that made them.
"""

from __future__ import annotations

import json
import math
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

import numpy as np
import torch
from tqdm import tqdm

from ganlab import settings
from ganlab.augment.transforms import EDIT_LOSS_NAME, TRANSFORMS, clamp_magnitude, edit, masked_l2, spec
from ganlab.errors import GanlabError
from ganlab.invert.projector import ProjectionStep
from ganlab.models.biggan import BigGANModel

FORMAT = 1


@dataclass
class Walk:
    """One transformation's direction `vector` [z_dim] and how magnitudes map to steps along it."""

    transform: str
    vector: np.ndarray
    alpha: str                              # 'magnitude' or 'log(magnitude)'
    alpha_range: tuple[float, float]
    loss: float = float("nan")              # final training loss (mean of the last steps)

    def alpha_of(self, magnitude: torch.Tensor) -> torch.Tensor:
        return torch.log(magnitude) if self.alpha == "log(magnitude)" else magnitude


@dataclass
class WalkSet:
    """The walks trained for one model, with what is needed to judge and reproduce them."""

    model_id: str
    z_dim: int
    walks: dict[str, Walk]
    truncation: float = 1.0
    run: dict[str, float | int | str] = field(default_factory=dict)   # steps, batch, lr, seed, seconds

    def shifted(self, z: torch.Tensor, name: str, magnitude: float | torch.Tensor) -> tuple[torch.Tensor, str]:
        """`z` [N, z_dim] moved along walk `name` by `magnitude` (one, or one per row); note on clamping."""
        if name not in self.walks:
            raise GanlabError(f"no learned walk for {name!r} for {self.model_id}; have: {', '.join(self.walks)}")
        walk = self.walks[name]
        m, note = clamp_magnitude(name, magnitude)
        alpha = walk.alpha_of(m).to(z.device, z.dtype).reshape(-1, 1)
        return z + alpha * torch.from_numpy(walk.vector).to(z.device, z.dtype), note


def default_walks_path(model_id: str) -> Path:
    """Where walks for a bundled model ship: assets/walks/MODEL.npz."""
    return settings.assets_dir() / "walks" / f"{model_id}.npz"


def save_walks(walks: WalkSet, path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    meta = {"format": FORMAT, "model": walks.model_id, "z_dim": walks.z_dim, "truncation": walks.truncation,
            "loss": EDIT_LOSS_NAME, "run": walks.run,
            "transforms": [{"name": w.transform, "alpha": w.alpha, "alpha_range": list(w.alpha_range),
                            "loss": w.loss} for w in walks.walks.values()]}
    vectors = np.stack([w.vector for w in walks.walks.values()]).astype(np.float32)
    with open(path, "wb") as f:
        np.savez(f, vectors=vectors, meta=np.array(json.dumps(meta)))
    return path


def load_walks(path: str | Path, model: BigGANModel | None = None) -> WalkSet:
    """Walks from `path`; refused (GanlabError) when they were trained for another model than `model`."""
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as data:
            vectors, meta = data["vectors"], json.loads(str(data["meta"]))
        entries = meta["transforms"]
        walks = {e["name"]: Walk(e["name"], vectors[i].astype(np.float32), e["alpha"], tuple(e["alpha_range"]),
                                 float(e["loss"])) for i, e in enumerate(entries)}
        result = WalkSet(meta["model"], int(meta["z_dim"]), walks, float(meta["truncation"]), meta.get("run", {}))
    except FileNotFoundError:
        raise GanlabError(f"no walks file at {path}") from None
    except (OSError, ValueError, KeyError, IndexError, TypeError) as err:
        raise GanlabError(f"{path} is not a ganlab walks file ({type(err).__name__}: {err})") from err
    if meta.get("format") != FORMAT:
        raise GanlabError(f"{path} has walks format {meta.get('format')}, this ganlab reads format {FORMAT}")
    if model is not None and (result.model_id != model.name or result.z_dim != model.z_dim):
        raise GanlabError(f"the walks in {path} were trained for {result.model_id!r} (z_dim {result.z_dim}), "
                          f"not {model.name!r} (z_dim {model.z_dim}); train them with "
                          f"`python -m ganlab train-walks --model {model.name}`")
    return result


def train_walks(model: BigGANModel, transforms: list[str] | None = None, steps: int = 300, batch: int = 8,
                lr: float = 0.05, truncation: float = 1.0, seed: int = 0,
                cancel: threading.Event | None = None) -> Iterator[ProjectionStep | WalkSet]:
    """Train one walk per transformation; yields a `ProjectionStep` per step (loss per transformation)
    and the `WalkSet` last. A cancelled run still yields the walks trained so far."""
    if model.kind != "biggan":
        raise GanlabError(f"learned walks are for BigGAN models; {model.name} is a {model.kind} model")
    if steps < 1 or batch < 1:
        raise GanlabError("steps and batch must be at least 1")
    transforms = list(transforms or TRANSFORMS)
    specs = [spec(name) for name in transforms]
    device = model.device
    gen = torch.Generator().manual_seed(seed)
    vectors = torch.zeros(len(specs), model.z_dim, device=device, requires_grad=True)
    optimizer = torch.optim.Adam([vectors], lr=lr)
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
        moved = torch.cat([z + a[:, None] * v for a, v in zip(alphas, vectors)])
        out = model.synthesize(moved, c=c.repeat(len(specs), 1), truncation=truncation)
        err = masked_l2(out, torch.cat(targets), torch.cat(masks))
        per_transform = err.view(len(specs), batch).mean(1)
        (vectors.grad,) = torch.autograd.grad(per_transform.sum(), [vectors])
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
    walks = {s.name: Walk(s.name, vectors[i].detach().cpu().numpy().copy(),
                          "log(magnitude)" if s.log_alpha else "magnitude", s.alpha_range(),
                          float(np.mean([h[s.name] for h in tail])) if tail else float("nan"))
             for i, s in enumerate(specs)}
    yield WalkSet(model.name, model.z_dim, walks, truncation,
                  {"steps": done, "batch": batch, "lr": lr, "seed": seed,
                   "seconds": round(time.perf_counter() - started, 1)})


def run_train_walks(model_id: str, transforms: list[str] | None, steps: int, batch: int, out: str | Path | None,
                    device: str | None, lr: float = 0.05, seed: int = 0) -> int:
    """CLI `train-walks`: train walks for `model_id` and save them (default assets/walks/MODEL.npz)."""
    from ganlab.models.pool import default_device
    from ganlab.models.registry import Registry, load_model

    registry = Registry()
    model_id = model_id if model_id in registry.specs else registry.add(model_id).id
    model = load_model(registry, model_id).to(device or default_device())
    if model.kind != "biggan":
        raise GanlabError(f"{model_id} is a {model.kind} model; learned walks are for BigGAN models")
    out = Path(out) if out else default_walks_path(model_id)
    result = None
    with tqdm(total=steps, desc=f"training walks for {model_id}", unit="step") as bar:
        for rec in train_walks(model, transforms, steps, batch, lr=lr, seed=seed):
            if isinstance(rec, WalkSet):
                result = rec
                continue
            bar.update(rec.step - bar.n)
            bar.set_postfix_str(" ".join(f"{k} {v:.4f}" for k, v in rec.losses.items()))
    save_walks(result, out)
    for walk in result.walks.values():
        print(f"{walk.transform:<12} alpha = {walk.alpha} in {walk.alpha_range[0]:+.3f}..{walk.alpha_range[1]:+.3f}"
              f"  final {EDIT_LOSS_NAME} {walk.loss:.4f}  |w| {np.linalg.norm(walk.vector):.2f}")
    print(f"wrote {out} ({result.run['steps']} steps of batch {batch} in {result.run['seconds']} s)")
    return 0
