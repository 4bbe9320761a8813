"""The small helper networks that inversion trains (encoders, landscape maps), on disk.

A folder holds `config.json` ({"model_type": ..., "config": {...}}) and `model.safetensors`: no
pickles, and a config that names what the weights are for, so a wrong folder is refused clearly.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Callable

import torch.nn as nn
from safetensors.torch import load_file, save_file

from ganlab.errors import BadCheckpoint, GanlabError


def save_net(net: nn.Module, model_type: str, cfg, folder: Path | str, extra: dict | None = None) -> Path:
    """Write `net`'s weights and its dataclass config `cfg` under `model_type`; `extra` adds keys to the
    config file that loading ignores (how the net was trained, what it scored)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    meta = {"model_type": model_type, "config": asdict(cfg), **(extra or {})}
    (folder / "config.json").write_text(json.dumps(meta, indent=2))
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
