"""One entry point that reads any supported checkpoint into a `GanModel`.

Formats: ganlab folders (config.json + model.safetensors, StyleGAN2 or BigGAN), BigGAN folders
(config.json + pytorch_model.bin), NVIDIA network snapshots (.pkl, read without executing
anything) and rosinality checkpoints (.pt with `g_ema`).
"""

from __future__ import annotations

import json
from pathlib import Path

import torch

from ganlab.errors import BadCheckpoint
from ganlab.models.base import GanModel
from ganlab.models.folder import helpers_folder_for
from ganlab.models.stylegan2 import StyleGAN2Config
from ganlab.models.stylegan2_model import MODEL_TYPE, StyleGAN2Model, build_stylegan2, load_stylegan2_folder


def load_checkpoint(path: Path | str, name: str | None = None) -> GanModel:
    """Read `path` (file or folder) into a generator on the CPU; `BadCheckpoint` says why not.

    The model's `folder` is where its helpers (encoder, directions, ...) are found and saved.
    """
    path = Path(path)
    name = name or path.stem
    if not path.exists():
        raise BadCheckpoint(f"{path} does not exist")
    if path.is_file() and path.suffix == ".safetensors":
        path = path.parent
    model = _read(path, name)
    model.folder = helpers_folder_for(path)
    return model


def _read(path: Path, name: str) -> GanModel:
    if path.is_dir():
        return _load_folder(path, name)
    if path.suffix == ".pkl":
        return load_nvidia_pkl(path, name)
    if path.suffix in {".pt", ".pth"}:
        return load_rosinality(path, name)
    raise BadCheckpoint(f"{path.name}: unknown checkpoint type; expected an NVIDIA .pkl, a rosinality .pt, "
                        "or a folder with config.json + weights")


def _load_folder(folder: Path, name: str) -> GanModel:
    config = folder / "config.json"
    if not config.is_file():
        raise BadCheckpoint(f"{folder} has no config.json")
    try:
        meta = json.loads(config.read_text())
    except json.JSONDecodeError as err:
        raise BadCheckpoint(f"{config} is not valid JSON ({err})") from None
    if meta.get("model_type") == MODEL_TYPE:
        return load_stylegan2_folder(folder, name)
    if "output_dim" in meta and "num_classes" in meta:
        from ganlab.models.biggan import load_biggan_folder
        return load_biggan_folder(folder, name)
    raise BadCheckpoint(f"{config} describes neither a ganlab StyleGAN2 model nor a BigGAN")


def load_nvidia_pkl(path: Path, name: str) -> StyleGAN2Model:
    """An official StyleGAN2(-ADA) snapshot's G_ema, parsed by the restricted unpickler."""
    from ganlab.models.nvidia_pkl import load_generator_record

    record = load_generator_record(path)
    cfg = StyleGAN2Config.from_official_kwargs(record.init_kwargs)
    return build_stylegan2(cfg, record.state_dict, name)


def load_rosinality(path: Path, name: str) -> StyleGAN2Model:
    """A rosinality checkpoint; without a stored `latent_avg`, the mean w is estimated by sampling."""
    from ganlab.models.rosinality import read_rosinality_checkpoint

    cfg, state, has_avg = read_rosinality_checkpoint(path)
    model = build_stylegan2(cfg, state, name)
    if not has_avg:
        with torch.no_grad():
            model.net.mapping.w_avg.copy_(model.w_stats(n=4096)[0][0])
    return model
