"""rosinality/stylegan2-pytorch `.pt` checkpoints -> official (NVlabs) names and our config.

rosinality's generator stores the same tensors as NVlabs under other names (and a few with an
extra leading axis); its blur/upsample kernels are derived buffers that our module rebuilds.
"""

from __future__ import annotations

import argparse
import math
import re
from pathlib import Path

import torch

from ganlab.errors import BadCheckpoint
from ganlab.models.ops import setup_filter
from ganlab.models.torch_files import load_weights_only
from ganlab.models.stylegan2 import StyleGAN2Config

DERIVED = re.compile(r"(convs\.\d+\.conv\.blur\.kernel|to_rgbs\.\d+\.upsample\.kernel)$")


def _layer_map(prefix_ros: str, prefix_nv: str) -> dict[str, tuple[str, str]]:
    """Key pairs (rosinality -> NVlabs, transform) of one StyledConv."""
    return {
        f"{prefix_ros}.conv.weight": (f"{prefix_nv}.weight", "squeeze0"),
        f"{prefix_ros}.conv.modulation.weight": (f"{prefix_nv}.affine.weight", "copy"),
        f"{prefix_ros}.conv.modulation.bias": (f"{prefix_nv}.affine.bias", "copy"),
        f"{prefix_ros}.noise.weight": (f"{prefix_nv}.noise_strength", "scalar"),
        f"{prefix_ros}.activate.bias": (f"{prefix_nv}.bias", "copy"),
    }


def _torgb_map(prefix_ros: str, prefix_nv: str) -> dict[str, tuple[str, str]]:
    return {
        f"{prefix_ros}.conv.weight": (f"{prefix_nv}.weight", "squeeze0"),
        f"{prefix_ros}.conv.modulation.weight": (f"{prefix_nv}.affine.weight", "copy"),
        f"{prefix_ros}.conv.modulation.bias": (f"{prefix_nv}.affine.bias", "copy"),
        f"{prefix_ros}.bias": (f"{prefix_nv}.bias", "flatten"),
    }


def name_map(size: int, n_mlp: int) -> dict[str, tuple[str, str]]:
    """Every rosinality key of a `Generator(size, style_dim, n_mlp)` -> (NVlabs key, transform)."""
    out: dict[str, tuple[str, str]] = {}
    for i in range(n_mlp):
        out[f"style.{i + 1}.weight"] = (f"mapping.fc{i}.weight", "copy")
        out[f"style.{i + 1}.bias"] = (f"mapping.fc{i}.bias", "copy")
    out["input.input"] = ("synthesis.b4.const", "squeeze0")
    out.update(_layer_map("conv1", "synthesis.b4.conv1"))
    out.update(_torgb_map("to_rgb1", "synthesis.b4.torgb"))
    out["noises.noise_0"] = ("synthesis.b4.conv1.noise_const", "plane")
    for j in range(int(math.log2(size)) - 2):
        res = 2 ** (j + 3)
        out.update(_layer_map(f"convs.{2 * j}", f"synthesis.b{res}.conv0"))
        out.update(_layer_map(f"convs.{2 * j + 1}", f"synthesis.b{res}.conv1"))
        out.update(_torgb_map(f"to_rgbs.{j}", f"synthesis.b{res}.torgb"))
        out[f"noises.noise_{2 * j + 1}"] = (f"synthesis.b{res}.conv0.noise_const", "plane")
        out[f"noises.noise_{2 * j + 2}"] = (f"synthesis.b{res}.conv1.noise_const", "plane")
    return out


def _transform(t: torch.Tensor, how: str) -> torch.Tensor:
    if how == "copy":
        return t
    if how == "squeeze0":
        return t.squeeze(0)
    if how == "scalar":
        return t.reshape([])
    if how == "flatten":
        return t.reshape([-1])
    if how == "plane":
        return t.reshape(t.shape[-2:])
    raise ValueError(how)


def infer_config(state: dict[str, torch.Tensor]) -> StyleGAN2Config:
    """Size, style dim, mapping depth and channel multiplier read off the tensors themselves."""
    n_mlp = sum(1 for k in state if re.fullmatch(r"style\.\d+\.weight", k))
    n_stages = sum(1 for k in state if re.fullmatch(r"to_rgbs\.\d+\.conv\.weight", k))
    if n_mlp == 0 or "input.input" not in state:
        raise BadCheckpoint("not a rosinality StyleGAN2 generator state dict (no style.* / input.input keys)")
    size = 2 ** (n_stages + 2)
    style_dim = state["style.1.weight"].shape[1]
    channels_at_size = state["conv1.conv.weight"].shape[1] if n_stages == 0 else \
        state[f"convs.{2 * n_stages - 1}.conv.weight"].shape[1]
    channel_max = state["input.input"].shape[1]
    # Any channel_base that gives the same channel table builds the identical network.
    channel_base = channels_at_size * size
    return StyleGAN2Config(z_dim=style_dim, w_dim=style_dim, img_resolution=size, mapping_layers=n_mlp,
                           channel_base=channel_base, channel_max=channel_max)


def convert_state_dict(state: dict[str, torch.Tensor], latent_avg: torch.Tensor | None = None
                       ) -> tuple[StyleGAN2Config, dict[str, torch.Tensor]]:
    """rosinality `g_ema` state dict -> (config, NVlabs-named state dict without derived buffers)."""
    cfg = infer_config(state)
    mapping = name_map(cfg.img_resolution, cfg.mapping_layers)
    unknown = [k for k in state if k not in mapping and not DERIVED.search(k)]
    missing = [k for k in mapping if k not in state]
    if unknown or missing:
        raise BadCheckpoint(f"rosinality checkpoint has unexpected keys {unknown[:6]} / lacks {missing[:6]}")
    out = {nv: _transform(state[ros], how) for ros, (nv, how) in mapping.items()}
    out["mapping.w_avg"] = latent_avg.reshape([-1]) if latent_avg is not None else torch.zeros([cfg.w_dim])
    for key in _derived_filter_keys(cfg):
        out[key] = setup_filter(cfg.resample_filter)
    return cfg, out


def _derived_filter_keys(cfg: StyleGAN2Config) -> list[str]:
    keys = []
    for res in cfg.block_resolutions:
        keys.append(f"synthesis.b{res}.resample_filter")
        keys += [f"synthesis.b{res}.conv{i}.resample_filter" for i in ((1,) if res == 4 else (0, 1))]
    return keys


def read_rosinality_checkpoint(path: Path | str) -> tuple[StyleGAN2Config, dict[str, torch.Tensor], bool]:
    """Load a `.pt` safely (weights only; argparse.Namespace allowed) -> (config, state, has_latent_avg).

    Without `latent_avg` (training checkpoints) w_avg is zero here; the caller estimates it by sampling.
    """
    ckpt = load_weights_only(path, allowed=[argparse.Namespace])
    if not isinstance(ckpt, dict) or "g_ema" not in ckpt:
        keys = list(ckpt)[:8] if isinstance(ckpt, dict) else type(ckpt).__name__
        raise BadCheckpoint(f"{path} has no 'g_ema' generator (found {keys}); expected a rosinality checkpoint")
    latent_avg = ckpt.get("latent_avg")
    cfg, state = convert_state_dict(ckpt["g_ema"], latent_avg)
    return cfg, state, latent_avg is not None
