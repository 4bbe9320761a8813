"""A helper net's training run on disk: resumable checkpoints, stages (more steps at a new rate), progress."""

from __future__ import annotations

import json
import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch
import torch.nn as nn

from ganlab.errors import GanlabError
from ganlab.fileio import write_atomically
from ganlab.invert.losses import FALLBACK_NAME, Distance, fallback_distance, lpips_distance


Renderer = Callable[[int, int], np.ndarray]  # (n, seed) -> uint8 [n, R, R, 3]: training images
LabelledRenderer = Callable[[int, int], tuple[np.ndarray, np.ndarray]]  # (n, seed) -> uint8 images, int classes


def face_renderer(resolution: int) -> Renderer:
    """Toy faces at `resolution`: what the bundled face model's helper nets train on by default."""
    from ganlab.data.toyfaces import render_faces

    return lambda n, seed: render_faces(n, seed, resolution)[0]


@dataclass
class TrainProgress:
    """One step of any training run (what the CLI's bar shows and tests read): a helper net's says which
    distance it trains with; a generator's, its throughput and the sample sheet it just wrote."""

    step: int
    total: int
    losses: dict[str, float]
    eta_s: float
    distance_name: str = ""
    images_per_s: float = 0.0
    sheet: Path | None = None
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


@dataclass
class HelperRun:
    """One training run of a helper net against its frozen generator: the state (net, Adam, step), the
    distance, where it checkpoints, and when this session of it started (for the ETA)."""

    state: TrainState
    distance: Distance
    folder: Path
    device: torch.device
    first_step: int
    started: float

    def step(self, loss: torch.Tensor, tcfg, losses: dict[str, float], saved: dict, anneal: bool = False
             ) -> TrainProgress:
        """One optimiser step on `loss` at this stage's learning rate (`tcfg.lr`, cosine-decayed when
        `anneal`), then its progress record: `losses` as shown; at checkpoint steps the run is saved with
        `saved` (the net's config under its key) and the training config."""
        state = self.state
        state.opt.zero_grad(set_to_none=True)
        loss.backward()
        stage_lr(state, tcfg.lr, anneal)  # this stage's rate, not the one the checkpoint's Adam state had
        state.opt.step()
        state.step += 1
        eta = (time.perf_counter() - self.started) / (state.step - self.first_step) * (tcfg.steps - state.step)
        rec = TrainProgress(step=state.step, total=tcfg.steps, losses=losses, eta_s=eta,
                            distance_name=self.distance.name)
        if state.step % tcfg.checkpoint_every == 0 or state.step == tcfg.steps:
            rec.checkpoint = save_train_state(state, self.folder, {**saved, "training": asdict(tcfg)})
        return rec


def begin_run(model, build: Callable[[], nn.Module], tcfg, run_dir: Path | str,
              device: torch.device | str) -> HelperRun:
    """Freeze `model` on `device`, seed, build the net (`build()`), and resume the run in `run_dir` when it
    has a checkpoint. `tcfg` needs `distance`, `seed`, `lr` and `steps`."""
    device = torch.device(device)
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    model.to(device)
    model.net.eval().requires_grad_(False)
    distance = training_distance(tcfg.distance, device)
    torch.manual_seed(tcfg.seed)
    net = build().to(device).train()
    state = TrainState(net, torch.optim.Adam(net.parameters(), lr=tcfg.lr, betas=(0.9, 0.99)))
    resume_train_state(state, run_dir, device, tcfg.steps)
    return HelperRun(state, distance, run_dir, device, state.step, time.perf_counter())


def export_run(run_dir: Path | str, key: str, build: Callable[[dict], nn.Module], fits: Callable[[nn.Module], None],
               save: Callable[[nn.Module, Path], Path], out_dir: Path | str) -> Path:
    """Write a run's net in the shipped format: rebuilt from the config saved under `key`, checked by
    `fits` against the generator it is for, then `save`d to `out_dir`."""
    meta, weights = run_net_weights(run_dir)
    net = build(meta[key])
    fits(net)
    net.load_state_dict(weights)
    return save(net, Path(out_dir))
