"""The small helper networks that inversion trains (encoders, landscape maps), on disk.

A folder holds `config.json` ({"model_type": ..., "config": {...}}) and `model.safetensors`: no
pickles, and a config that names what the weights are for, so a wrong folder is refused clearly.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable, Iterator

import numpy as np
import torch
import torch.nn as nn
from safetensors.torch import load_file, save_file

from ganlab.errors import BadCheckpoint, GanlabError
from ganlab.fileio import write_atomically
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
    """A run in progress. A stage is the steps one invocation was asked to reach with one set of settings
    (resuming 4000 steps to 7000 with new weights starts a stage at 4000): what the learning rate
    schedule spans, and what the run's config.json keeps a history of."""

    net: nn.Module
    opt: torch.optim.Optimizer
    step: int = 0
    stage: tuple[int, int] = (0, 0)       # (first step, last step) of the current stage


ANNEAL_FINAL = 0.05  # an annealed stage ends at this fraction of its learning rate


def stage_lr(state: TrainState, lr: float, anneal: bool) -> float:
    """Set and return this step's learning rate: `lr`, or with `anneal` its cosine decay over the stage
    down to ANNEAL_FINAL * lr (a low final rate settles the net a constant rate keeps shaking)."""
    if anneal:
        first, last = state.stage
        t = min(1.0, (state.step - first) / max(1, last - first))
        lr *= ANNEAL_FINAL + (1 - ANNEAL_FINAL) * 0.5 * (1 + math.cos(math.pi * t))
    for group in state.opt.param_groups:
        group["lr"] = lr
    return lr


def training_distance(name: str, device: torch.device) -> Distance:
    """'fallback' (MSE + 1 - SSIM, fast on a CPU) or 'lpips' (which falls back itself when offline)."""
    if name == "lpips":
        return lpips_distance(device)
    if name == "fallback":
        return Distance(FALLBACK_NAME, fallback_distance)
    raise GanlabError(f"distance must be 'fallback' or 'lpips', got {name!r}")


def save_train_state(state: TrainState, run_dir: Path, meta: dict) -> Path:
    """Atomically write `run_dir/checkpoint.pt` (weights, optimiser, step, stage) and the run's `config.json`:
    `meta` plus "stages", the settings of every stage so far (meta["training"] is the current one's)."""
    path = run_dir / "checkpoint.pt"
    tmp = path.with_suffix(".tmp")
    torch.save({"net": state.net.state_dict(), "opt": state.opt.state_dict(), "step": torch.tensor(state.step),
                "stage": torch.tensor(state.stage)}, tmp)
    tmp.replace(path)
    start = state.stage[0]
    stages = [{**s, "to": min(s["to"], start)} for s in _stages(_read_config(run_dir)) if s["from"] < start]
    stages.append({"from": start, "to": state.step, "training": meta.get("training")})
    write_atomically(run_dir / "config.json", json.dumps({**meta, "stages": stages}, indent=2))
    return path


def _read_config(run_dir: Path) -> dict:
    """The run's config.json, or {} when there is none or it cannot be read (its history is then lost)."""
    try:
        meta = json.loads((run_dir / "config.json").read_text())
    except (OSError, ValueError):
        return {}
    return meta if isinstance(meta, dict) else {}


def _stages(meta: dict) -> list[dict]:
    """The stage history of a run's config.json; a run from before stages were kept was one stage."""
    if "stages" in meta:
        return meta["stages"]
    if "training" not in meta:
        return []
    return [{"from": 0, "to": meta["training"].get("steps", 0), "training": meta["training"]}]


def resume_train_state(state: TrainState, run_dir: Path, device: torch.device, steps: int) -> None:
    """Continue a run from `run_dir/checkpoint.pt` when there is one, towards `steps` in all. Only `steps`
    decides the stage: a checkpoint heading for the same `steps` (an interrupted run) goes on with its
    stage, whatever the other settings now are; any other `steps` starts a new stage at the checkpoint."""
    state.stage = (0, steps)
    path = run_dir / "checkpoint.pt"
    if path.is_file():
        ckpt = torch.load(path, map_location=device, weights_only=True)
        state.net.load_state_dict(ckpt["net"])
        state.opt.load_state_dict(ckpt["opt"])
        state.step = int(ckpt["step"])
        if "stage" in ckpt:
            saved = tuple(int(s) for s in ckpt["stage"])
        else:  # a checkpoint from before stages: one stage, towards the steps its config asked for
            saved = (0, int(_read_config(run_dir).get("training", {}).get("steps", state.step)))
        state.stage = saved if saved[1] == steps else (state.step, steps)


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
