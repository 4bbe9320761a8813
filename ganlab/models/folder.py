"""A model's folder: the generator's files and, beside them, everything trained or computed for it.

One place says where each helper lives, so the loaders, the trainers' exports, the inverters and the
Lab agree. A ganlab model folder (config.json + model.safetensors) is its own helper folder; a single
checkpoint file (an NVIDIA .pkl, a rosinality .pt, a download in the cache) gets `<stem>.ganlab/`
next to it, so a checkpoint loaded by path finds what was made for it, whatever it is called.
"""

from __future__ import annotations

from pathlib import Path

from ganlab.errors import GanlabError

ENCODER = "encoder"              # sub-folder: image -> latent network (safetensors + config.json)
LANDSCAPE = "landscape"          # sub-folder: the landscape map
DIRECTIONS = "directions.npz"    # edit directions (shipped and user-learned), `save_directions` format
WALKS = "walks.npz"              # BigGAN latent walks, `save_walks` format
GANSPACE = "ganspace.npz"        # computed once per model: GANSpace directions, `save_directions` format
SEFA = "sefa.npz"                # computed once per model: SeFa directions
HELPERS = (ENCODER, LANDSCAPE, DIRECTIONS, WALKS, GANSPACE, SEFA)
FOLDERS = (ENCODER, LANDSCAPE)   # the helpers that are folders (each with its config.json)


def helpers_folder_for(checkpoint: Path | str) -> Path:
    """Where helpers of the generator read from `checkpoint` (a file or a model folder) live."""
    path = Path(checkpoint)
    if path.is_file() and path.suffix == ".safetensors":
        path = path.parent
    return path if path.is_dir() else path.with_name(f"{path.stem}.ganlab")


def helper_path(model, name: str) -> Path:
    """The path of helper `name` (one of `HELPERS`) of a loaded `model`; it may not exist yet."""
    if name not in HELPERS:
        raise GanlabError(f"unknown model helper {name!r}; helpers: {', '.join(HELPERS)}")
    folder = getattr(model, "folder", None)
    if folder is None:
        raise GanlabError(f"'{model.name}' was not loaded from a file, so it has no folder for its {name}")
    return Path(folder) / name


def has_helper(model, name: str) -> bool:
    """Whether `model`'s folder holds helper `name` (a folder needs its config.json)."""
    if getattr(model, "folder", None) is None:
        return False
    path = helper_path(model, name)
    return (path / "config.json").is_file() if name in FOLDERS else path.is_file()
