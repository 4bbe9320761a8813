"""StyleGAN2 behind the common `GanModel` interface, and its save/load in ganlab's own format.

Our format is a folder with `config.json` ({"model_type": "stylegan2", "config": {...}}) and
`model.safetensors` holding the official state-dict names: no pickles, nothing executable.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from ganlab.errors import BadCheckpoint, ShapeError
from ganlab.models.base import check_shape, seeded_randn
from ganlab.models.stylegan2 import Generator, StyleGAN2Config, SynthesisCache, truncate

MODEL_TYPE = "stylegan2"


class StyleGAN2Model:
    """A StyleGAN2 generator with latent spaces `z`, `w` (one w for all layers) and `w+` (one per layer)."""

    kind = "stylegan2"
    spaces = ("z", "w", "w+")
    folder = None  # where its helpers live (set by the loader; see ganlab.models.folder)

    def __init__(self, net: Generator, name: str = "stylegan2"):
        self.net = net.eval().requires_grad_(False)
        self.name = name
        cfg = net.cfg
        self.cfg = cfg
        self.resolution = cfg.img_resolution
        self.z_dim, self.w_dim, self.num_ws = cfg.z_dim, cfg.w_dim, net.num_ws
        self.num_classes = cfg.c_dim

    @property
    def device(self) -> torch.device:
        return self.net.mapping.w_avg.device

    def to(self, device: torch.device | str | None = None, dtype: torch.dtype | None = None) -> "StyleGAN2Model":
        self.net.to(device=device, dtype=dtype)
        return self

    def save(self, folder: Path | str) -> Path:
        """Write the generator as a ganlab model folder (`config.json` + `model.safetensors`)."""
        return save_stylegan2(self, folder)

    def sample_z(self, n: int, seed: int | None = None) -> torch.Tensor:
        return seeded_randn((n, self.z_dim), seed, self.device)

    def mapping(self, z: torch.Tensor, c: torch.Tensor | None = None, truncation: float = 1.0,
                truncation_cutoff: int | None = None) -> torch.Tensor:
        """z [N, z_dim] -> ws [N, num_ws, w_dim]."""
        return self.net.mapping(z.to(self.device), None if c is None else c.to(self.device),
                                truncation_psi=truncation, truncation_cutoff=truncation_cutoff)

    def to_ws(self, latent: torch.Tensor, space: str, c: torch.Tensor | None = None,
              truncation: float = 1.0) -> torch.Tensor:
        """Any latent -> ws [N, num_ws, w_dim], applying truncation towards the mean w."""
        latent = latent.to(self.device)
        if space == "z":
            return self.mapping(latent, c, truncation)
        if space == "w":
            check_shape("w", latent, [None, self.w_dim])
            ws = latent.unsqueeze(1).repeat([1, self.num_ws, 1])
        elif space == "w+":
            check_shape("ws", latent, [None, self.num_ws, self.w_dim])
            ws = latent
        else:
            raise ShapeError(f"unknown latent space {space!r}; StyleGAN2 offers {self.spaces}")
        return truncate(ws, self.net.mapping.w_avg, truncation)

    def synthesize(self, latent: torch.Tensor, space: str = "z", c: torch.Tensor | None = None,
                   truncation: float = 1.0, noise_mode: str = "const",
                   cache: SynthesisCache | None = None) -> torch.Tensor:
        """`img` [N, 3, R, R] in [-1, 1] (clamped) from a latent in `space`.

        A `cache` kept across calls (without gradients) skips the blocks whose ws did not change.
        """
        ws = self.to_ws(latent, space, c, truncation)
        return self.net.synthesis(ws, noise_mode=noise_mode, cache=cache).clamp(-1, 1)

    def mean_latent(self, space: str) -> torch.Tensor:
        w_avg = self.net.mapping.w_avg.unsqueeze(0)
        if space == "w":
            return w_avg.clone()
        if space == "w+":
            return w_avg.unsqueeze(1).repeat([1, self.num_ws, 1])
        if space == "z":
            return torch.zeros([1, self.z_dim], device=self.device)
        raise ShapeError(f"unknown latent space {space!r}; StyleGAN2 offers {self.spaces}")

    @torch.no_grad()
    def w_stats(self, n: int = 10000, seed: int = 123, batch: int = 1000) -> tuple[torch.Tensor, float]:
        """Mean w [1, w_dim] and RMS spread of `n` mapped samples (the projector's start and noise scale).

        Kept per (n, seed) until the mapping's weights change (tensors replaced or moved, or changed in
        place: their version counters move), since every projection asks and a real model's mapping takes
        seconds for 10,000 samples."""
        key = (n, seed, str(self.device), tuple((p.data_ptr(), p._version) for p in self.net.mapping.parameters()))
        kept = self.__dict__.get("_w_stats_kept")
        if kept is None or kept[0] != key:
            kept = self.__dict__["_w_stats_kept"] = (key, self._w_stats(n, seed, batch))
        mean, std = kept[1]
        return mean.clone(), std

    def _w_stats(self, n: int, seed: int, batch: int) -> tuple[torch.Tensor, float]:
        ws = []
        for i in range(0, n, batch):
            z = seeded_randn((min(batch, n - i), self.z_dim), seed + i, self.device)
            c = None
            if self.num_classes:
                c = torch.nn.functional.one_hot(torch.arange(z.shape[0], device=self.device) % self.num_classes,
                                                self.num_classes).float()
            ws.append(self.mapping(z, c)[:, 0])
        w = torch.cat(ws)
        mean = w.mean(0, keepdim=True)
        std = float(((w - mean).square().sum() / n) ** 0.5)
        return mean, std


def build_stylegan2(cfg: StyleGAN2Config, state_dict: dict[str, torch.Tensor], name: str) -> StyleGAN2Model:
    """Our module from a config and official-name weights; every key must match exactly."""
    net = Generator(cfg)
    expected = net.state_dict()
    missing = [k for k in expected if k not in state_dict]
    unexpected = [k for k in state_dict if k not in expected]
    if missing or unexpected:
        raise BadCheckpoint(f"'{name}': weights do not fit the StyleGAN2 config: missing {missing[:8]}"
                            f"{'...' if len(missing) > 8 else ''}, unexpected {unexpected[:8]}"
                            f"{'...' if len(unexpected) > 8 else ''}")
    wrong = [f"{k} {list(state_dict[k].shape)} != {list(v.shape)}" for k, v in expected.items()
             if state_dict[k].shape != v.shape]
    if wrong:
        raise BadCheckpoint(f"'{name}': tensor shapes do not fit the config: {wrong[:5]}")
    net.load_state_dict({k: state_dict[k].to(torch.float32) for k in expected})
    return StyleGAN2Model(net, name)


def save_stylegan2(model: StyleGAN2Model, folder: Path | str, extra: dict | None = None) -> Path:
    """Write `config.json` + `model.safetensors` (official names) to `folder`."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    meta = {"model_type": MODEL_TYPE, "config": model.cfg.to_dict(), **(extra or {})}
    (folder / "config.json").write_text(json.dumps(meta, indent=2))
    tensors = {k: v.detach().cpu().contiguous() for k, v in model.net.state_dict().items()}
    save_file(tensors, str(folder / "model.safetensors"))
    return folder


def load_stylegan2_folder(folder: Path | str, name: str | None = None) -> StyleGAN2Model:
    """Load a folder written by `save_stylegan2`."""
    folder = Path(folder)
    meta = json.loads((folder / "config.json").read_text())
    if meta.get("model_type") != MODEL_TYPE:
        raise BadCheckpoint(f"{folder}/config.json is not a ganlab StyleGAN2 config")
    cfg = StyleGAN2Config.from_dict(meta["config"])
    weights = folder / "model.safetensors"
    if not weights.is_file():
        raise BadCheckpoint(f"{weights} is missing")
    try:
        state = load_file(str(weights))
    except Exception as err:
        raise BadCheckpoint(f"{weights} is not a readable safetensors file ({err})") from None
    return build_stylegan2(cfg, state, name or folder.name)
