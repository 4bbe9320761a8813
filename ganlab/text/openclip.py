"""The real CLIP: open_clip's ViT-B/32 with OpenAI's weights, behind `TextImageModel`.

The weights (about 600 MB) download from the Hugging Face hub on first use into
`settings.cache_dir()/clip` and load from there afterwards, online or not. When they are neither
cached nor fetchable, `WeightsUnavailable` says so and what to do; nothing else escapes.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import torch
import torch.nn.functional as F

from ganlab import settings
from ganlab.errors import GanlabError, WeightsUnavailable
from ganlab.models.base import check_shape
from ganlab.text.base import TextImageModel, check_phrases

ARCH = "ViT-B-32"
PRETRAINED = "openai"
TITLE = "CLIP ViT-B/32 (OpenAI weights)"
INPUT_SIZE = 224
_WEIGHT_FILES = ("open_clip_model.safetensors", "open_clip_pytorch_model.bin")  # what the hub repo holds
_FIX = ("go online once, so the weights download and are cached (about 600 MB), then they work offline; "
        "or use a bundled demo model (toyfaces-64, toyobjects-64), whose bundled text model (toyclip-64) "
        "works offline")


def clip_cache_dir() -> Path:
    return settings.cache_dir() / "clip"


def _open_clip():
    try:
        import open_clip
    except ImportError as err:
        raise GanlabError(f"{TITLE} needs the open-clip-torch package: pip install 'open-clip-torch>=3.3' ({err})"
                          ) from None
    return open_clip


def _hub_repo() -> str:
    cfg = _open_clip().get_pretrained_cfg(ARCH, PRETRAINED)
    return cfg["hf_hub"].rstrip("/")


def _cached_weights() -> str | None:
    """The weights file in the cache, without touching the network; None when not downloaded yet."""
    from huggingface_hub import try_to_load_from_cache

    for name in _WEIGHT_FILES:
        found = try_to_load_from_cache(_hub_repo(), name, cache_dir=str(clip_cache_dir()))
        if isinstance(found, str):
            return found
    return None


def _weights_path() -> str:
    """The cached weights file, downloading it first when allowed; `WeightsUnavailable` when neither works."""
    cached = _cached_weights()
    if cached:
        return cached
    tried = [f"the cache {clip_cache_dir()}"]
    if settings.offline():
        raise WeightsUnavailable(TITLE, tried, "they are not downloaded yet and GANLAB_OFFLINE (or HF_HUB_OFFLINE) "
                                 "forbids the network", _FIX)
    open_clip = _open_clip()
    tried.append(f"the Hugging Face hub, {_hub_repo()}")
    try:
        path = open_clip.pretrained.download_pretrained(open_clip.get_pretrained_cfg(ARCH, PRETRAINED),
                                                        cache_dir=str(clip_cache_dir()))
    except Exception as err:  # hub, network and file errors all mean the same to the user
        raise WeightsUnavailable(TITLE, tried, f"the download failed ({type(err).__name__}: {err})", _FIX) from None
    if not path:
        raise WeightsUnavailable(TITLE, tried, "open_clip found no source for them", _FIX)
    return path


class OpenClip(TextImageModel):
    """open_clip's ViT-B/32 in eval mode; images are resized to 224 px and normalised inside, differentiably."""

    name = "clip-vit-b32"

    def __init__(self, pretrained: bool = True, device: torch.device | str = "cpu"):
        """`pretrained=False` builds random weights (offline, for tests of shapes and gradients only)."""
        open_clip = _open_clip()
        path = _weights_path() if pretrained else None
        try:
            # OpenAI's weights were trained with QuickGELU; given a file path, open_clip must be told
            self.model = open_clip.create_model(ARCH, pretrained=path, force_quick_gelu=True)
        except Exception as err:
            raise WeightsUnavailable(TITLE, [str(path)], f"the weights file does not load ({err})",
                                     f"delete {path} so that it downloads again; or {_FIX}") from None
        self.model.eval().requires_grad_(False)
        self.tokenizer = open_clip.get_tokenizer(ARCH)
        self.embed_dim = int(self.model.text_projection.shape[1])
        self.pretrained = pretrained
        cfg = open_clip.get_pretrained_cfg(ARCH, PRETRAINED)
        self._mean = torch.tensor(cfg["mean"]).view(1, 3, 1, 1)
        self._std = torch.tensor(cfg["std"]).view(1, 3, 1, 1)
        self.to(device)

    @property
    def device(self) -> torch.device:
        return self.model.text_projection.device

    def to(self, device: torch.device | str) -> "OpenClip":
        self.model.to(device)
        self._mean, self._std = self._mean.to(device), self._std.to(device)
        return self

    def encode_image(self, img: torch.Tensor) -> torch.Tensor:
        check_shape("img", img, [None, 3, None, None])
        if img.shape[2] != img.shape[3]:
            raise GanlabError(f"img must be square, got {img.shape[2]} x {img.shape[3]}")
        x = (img.to(self.device, torch.float32) + 1) / 2
        if x.shape[-1] != INPUT_SIZE:
            x = F.interpolate(x, size=(INPUT_SIZE, INPUT_SIZE), mode="bicubic", antialias=True, align_corners=False)
        x = (x - self._mean) / self._std
        return F.normalize(self.model.encode_image(x), dim=1)

    def encode_text(self, texts: Sequence[str]) -> torch.Tensor:
        tokens = self.tokenizer(check_phrases(texts)).to(self.device)
        with torch.no_grad():
            return F.normalize(self.model.encode_text(tokens), dim=1)
