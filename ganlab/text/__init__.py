"""Text-image models (CLIP) by name: the real one for real generators, the bundled toy one for the demo models.

`load_text_model(name)` gives a `TextImageModel`; `text_model_for(lab)` says which name a generator
uses (its registry entry's `text_model`). Loaded models are read-only, so one copy per (name, device)
serves every caller in the process.
"""

from __future__ import annotations

import threading

import torch

from ganlab import settings
from ganlab.errors import GanlabError
from ganlab.text.base import TextImageModel

TOYCLIP = "toyclip-64"
CLIP = "clip-vit-b32"
TEXT_MODELS = {TOYCLIP: "the bundled toy CLIP (assets/text/toyclip-64), trained on rendered toy faces and objects",
               CLIP: "CLIP ViT-B/32 with OpenAI's weights (open_clip; downloads once, then cached)"}

_loaded: dict[tuple[str, str], TextImageModel] = {}
_lock = threading.Lock()


def bundled_text_folder(name: str):
    """Where a bundled text model's folder is: assets/text/NAME."""
    return settings.assets_dir() / "text" / name


def load_text_model(name: str, device: torch.device | str | None = None) -> TextImageModel:
    """The text model `name` ('toyclip-64' or 'clip-vit-b32') on `device` (default: CUDA when present),
    loaded once per process. `WeightsUnavailable` when CLIP's weights are neither cached nor fetchable."""
    from ganlab.models.pool import default_device

    if name not in TEXT_MODELS:
        raise GanlabError(f"unknown text model {name!r}; known: {', '.join(TEXT_MODELS)}")
    device = torch.device(device or default_device())
    key = (name, str(device))
    with _lock:
        if key not in _loaded:
            if name == TOYCLIP:
                from ganlab.text.toyclip import load_toyclip

                _loaded[key] = load_toyclip(bundled_text_folder(name), device, name)
            else:
                from ganlab.text.openclip import OpenClip

                _loaded[key] = OpenClip(pretrained=True, device=device)
        return _loaded[key]


def text_model_for(lab_or_spec) -> str:
    """The text model name a generator uses: from a `Lab` (its registry entry, or the registry's entry of
    its model's name) or a `ModelSpec`; a model the registry does not know uses the real CLIP."""
    from ganlab.models.registry import ModelSpec, Registry

    if isinstance(lab_or_spec, ModelSpec):
        return lab_or_spec.text_model
    spec = getattr(lab_or_spec, "spec", None)
    if spec is None:
        spec = (getattr(lab_or_spec, "registry", None) or Registry()).specs.get(lab_or_spec.name)
    return spec.text_model if spec is not None else CLIP


__all__ = ["CLIP", "TEXT_MODELS", "TOYCLIP", "TextImageModel", "bundled_text_folder", "load_text_model",
           "text_model_for"]
