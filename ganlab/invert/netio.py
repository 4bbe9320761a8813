"""The small helper networks that inversion trains (encoders, landscape maps), on disk.

A folder holds `config.json` ({"model_type": ..., "config": {...}}) and `model.safetensors`: no
pickles, and a config that names what the weights are for, so a wrong folder is refused clearly.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable, Iterator

import numpy as np
import torch
import torch.nn as nn
from safetensors.torch import load_file, save_file

from ganlab.errors import BadCheckpoint, GanlabError
from ganlab.invert.losses import FALLBACK_NAME, Distance, fallback_distance, lpips_distance


def save_net(net: nn.Module, model_type: str, cfg, folder: Path | str) -> Path:
    """Write `net`'s weights and its dataclass config `cfg` under `model_type`."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.json").write_text(json.dumps({"model_type": model_type, "config": asdict(cfg)}, indent=2))
    save_file({k: v.detach().cpu().contiguous() for k, v in net.state_dict().items()},
              str(folder / "model.safetensors"))
    return folder


def load_net(folder: Path | str, builders: dict[str, Callable[[dict], nn.Module]], what: str) -> nn.Module:
    """Build the net that `config.json` names (one of `builders`' model types) and load its weights, in eval mode."""
    folder = Path(folder)
    try:
        meta = json.loads((folder / "config.json").read_text())
    except (OSError, ValueError) as err:
        raise BadCheckpoint(f"{folder}/config.json is not readable ({err})") from None
    build = builders.get(meta.get("model_type")) if isinstance(meta, dict) else None
    if build is None:
        raise BadCheckpoint(f"{folder}/config.json is not a ganlab {what} config")
    try:
        net = build(meta["config"])
        net.load_state_dict(load_file(str(folder / "model.safetensors")))
    except Exception as err:
        raise BadCheckpoint(f"{folder} does not hold a {what} that fits its config ({err})") from None
    return net.eval().requires_grad_(False)


# --- training runs --------------------------------------------------------------------------------

Renderer = Callable[[int, int], np.ndarray]  # (n, seed) -> uint8 [n, R, R, 3]: training images


def face_renderer(resolution: int) -> Renderer:
    """Toy faces at `resolution`: what the bundled face model's helper nets train on by default."""
    from ganlab.data.toyfaces import render_faces

    return lambda n, seed: render_faces(n, seed, resolution)[0]



@dataclass
class TrainProgress:
    """One step of a helper-net training run (what the CLI's bar shows and tests read)."""

    step: int
    total: int
    losses: dict[str, float]
    eta_s: float
    distance_name: str
    checkpoint: Path | None = None


@dataclass
class TrainState:
    net: nn.Module
    opt: torch.optim.Optimizer
    step: int = 0


def training_distance(name: str, device: torch.device) -> Distance:
    """'fallback' (MSE + 1 - SSIM, fast on a CPU) or 'lpips' (which falls back itself when offline)."""
    if name == "lpips":
        return lpips_distance(device)
    if name == "fallback":
        return Distance(FALLBACK_NAME, fallback_distance)
    raise GanlabError(f"distance must be 'fallback' or 'lpips', got {name!r}")


def save_train_state(state: TrainState, run_dir: Path, meta: dict) -> Path:
    """Atomically write `run_dir/checkpoint.pt` (weights, optimiser, step) and the run's `config.json`."""
    path = run_dir / "checkpoint.pt"
    tmp = path.with_suffix(".tmp")
    torch.save({"net": state.net.state_dict(), "opt": state.opt.state_dict(), "step": torch.tensor(state.step)}, tmp)
    tmp.replace(path)
    (run_dir / "config.json").write_text(json.dumps(meta, indent=2))
    return path


def resume_train_state(state: TrainState, run_dir: Path, device: torch.device) -> None:
    """Continue a run from `run_dir/checkpoint.pt` when there is one."""
    path = run_dir / "checkpoint.pt"
    if path.is_file():
        ckpt = torch.load(path, map_location=device, weights_only=True)
        state.net.load_state_dict(ckpt["net"])
        state.opt.load_state_dict(ckpt["opt"])
        state.step = int(ckpt["step"])


def run_net_weights(run_dir: Path | str) -> tuple[dict, dict]:
    """(the run's config.json, the net's weights from its checkpoint), for exporting."""
    run_dir = Path(run_dir)
    meta = json.loads((run_dir / "config.json").read_text())
    return meta, torch.load(run_dir / "checkpoint.pt", map_location="cpu", weights_only=True)["net"]


def show_progress(records: Iterator[TrainProgress], total: int, desc: str) -> None:
    """Drive a training run with a tqdm bar of its losses (the CLI front end)."""
    from tqdm import tqdm

    with tqdm(total=total, desc=desc, unit="step") as bar:
        for rec in records:
            bar.n = rec.step
            bar.set_postfix({k: f"{v:.3f}" for k, v in rec.losses.items()})


def check_tied(what: str, trained_for: str, model_name: str, sizes: dict[str, tuple[int, int]], command: str) -> None:
    """Refuse a net trained for another generator: its outputs would mean nothing there.

    `sizes` maps each size that must agree to (the net's value, the model's value).
    """
    if trained_for != model_name:
        raise GanlabError(f"this {what} was trained for '{trained_for}', not '{model_name}'")
    ours, theirs = tuple(a for a, _ in sizes.values()), tuple(b for _, b in sizes.values())
    if ours != theirs:
        raise GanlabError(f"{what} for '{trained_for}' has ({', '.join(sizes)}) {ours} but the model has {theirs}; "
                          f"retrain it with `python -m ganlab {command} --model {model_name}`")
