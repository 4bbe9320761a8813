"""Morphing between stored latents: lerp in W / W+, slerp in Z (BigGAN), with easing and ping-pong.

`render_interpolation` is a generator of progress records (one per rendered batch) that ends with
all frames, so the UI can show a bar and the CLI a tqdm line.

Latents with tuned weights (pivotal tuning) have one defined behaviour: the weight changes are blended in
the same proportion as the latents, a latent without any counting as no change. Each keyframe then looks
as it does alone, and the morph between two photos tuned apart moves through both tunings smoothly.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np
import torch
from PIL import Image

from ganlab.errors import GanlabError
from ganlab.fileio import write_folder_atomically
from ganlab.imaging import to_uint8
from ganlab.media import write_gif, write_mp4
from ganlab.models.base import GanModel
from ganlab.models.tuned import TunedWeights, through
from ganlab.session import StoredLatent

EASINGS = ("linear", "ease-in-out", "ease-in", "ease-out")
MAX_FRAMES = 600  # 25 s at 24 fps; every frame is rendered and held in memory before writing
MAX_SIZE = 1024   # output frame side in px


def ease(t: np.ndarray, kind: str = "linear") -> np.ndarray:
    """Map progress t in [0, 1] through an easing curve (cosine-based, so motion starts/stops smoothly)."""
    if kind == "linear":
        return t
    if kind == "ease-in-out":
        return 0.5 - 0.5 * np.cos(np.pi * t)
    if kind == "ease-in":
        return 1 - np.cos(0.5 * np.pi * t)
    if kind == "ease-out":
        return np.sin(0.5 * np.pi * t)
    raise GanlabError(f"easing must be one of {EASINGS}, got {kind!r}")


def keyframe_positions(n_keys: int, frames: int, easing: str = "linear", pingpong: bool = False) -> np.ndarray:
    """For each frame, a position in [0, n_keys - 1]: integer part = segment, fraction = eased progress.

    Ping-pong goes there and back, so the loop has no jump; the last frame is not the first again.
    """
    if n_keys < 2:
        raise GanlabError("interpolation needs at least two latents")
    if not 2 <= frames <= MAX_FRAMES:
        raise GanlabError(f"an interpolation has 2 to {MAX_FRAMES} frames, not {frames}")
    if pingpong:
        u = np.linspace(0, 2, frames, endpoint=False)
        u = np.where(u <= 1, u, 2 - u)
    else:
        u = np.linspace(0, 1, frames)
    pos = u * (n_keys - 1)
    seg = np.minimum(np.floor(pos), n_keys - 2)
    return seg + ease(pos - seg, easing)


def slerp(a: torch.Tensor, b: torch.Tensor, t: float) -> torch.Tensor:
    """Spherical interpolation between rows of `a` and `b` (keeps Gaussian latents at a typical norm)."""
    a_n, b_n = a / a.norm(dim=-1, keepdim=True), b / b.norm(dim=-1, keepdim=True)
    omega = torch.acos((a_n * b_n).sum(-1, keepdim=True).clamp(-1 + 1e-7, 1 - 1e-7))
    so = torch.sin(omega)
    if float(so.abs().min()) < 1e-6:
        return torch.lerp(a, b, t)
    return (torch.sin((1 - t) * omega) / so) * a + (torch.sin(t * omega) / so) * b


def _split(position: float, n_keys: int) -> tuple[int, float]:
    """Position -> (segment start key, fraction); the last keyframe is the end of the last segment."""
    i = min(int(position), n_keys - 2)
    return i, float(position - i)


def latent_path(model: GanModel, items: list[StoredLatent], positions: np.ndarray
                ) -> tuple[torch.Tensor, torch.Tensor | None, str]:
    """(latent at each position, class vectors or None, their space): a model with a W space blends ws
    linearly (every latent, z included, mapped to ws first: W is close to flat); a model with z alone
    (BigGAN) blends z spherically (a straight line through a Gaussian passes too near the origin)."""
    model_ids = {i.model_id for i in items}
    if len(model_ids) > 1:
        raise GanlabError(f"all latents must come from one model; these come from {sorted(model_ids)}")
    if "w+" in model.spaces:
        keys = [model.to_ws(i.tensor, i.space) for i in items]
        parts = [_split(p, len(keys)) for p in positions]
        return torch.cat([torch.lerp(keys[i], keys[i + 1], t) for i, t in parts]), None, "w+"
    if any(i.c is None for i in items):
        raise GanlabError("BigGAN latents need their class vectors")
    zs = [i.tensor.to(model.device) for i in items]
    cs = [i.c.to(model.device) for i in items]
    parts = [_split(p, len(zs)) for p in positions]
    z = torch.cat([slerp(zs[i], zs[i + 1], t) for i, t in parts])
    c = torch.cat([torch.lerp(cs[i], cs[i + 1], t) for i, t in parts])
    return z, c, "z"


def weights_path(items: list[StoredLatent], positions: np.ndarray) -> list[TunedWeights | None] | None:
    """The tuned weights at each position (blended like the latents), or None when no latent has any."""
    if all(i.tuned is None for i in items):
        return None
    parts = [_split(p, len(items)) for p in positions]
    return [TunedWeights.blend(items[i].tuned, items[i + 1].tuned, t) for i, t in parts]


@dataclass
class InterpolationProgress:
    """`frames` is filled on the last record only (uint8 [F, H, W, 3])."""

    done: int
    total: int
    eta_s: float
    frames: np.ndarray | None = None


@torch.no_grad()
def render_interpolation(model: GanModel, items: list[StoredLatent], frames: int = 60, easing: str = "ease-in-out",
                         pingpong: bool = False, batch: int = 8, truncation: float = 1.0
                         ) -> Iterator[InterpolationProgress]:
    """Render the morph through `items` in order, a batch of frames at a time."""
    positions = keyframe_positions(len(items), frames, easing, pingpong)
    latents, c, space = latent_path(model, items, positions)
    weights = weights_path(items, positions)
    if weights is not None:
        batch = 1  # every frame has its own blend of weights
    out, started = [], time.perf_counter()
    for start in range(0, frames, batch):
        sl = slice(start, start + batch)
        renders = through(model, None if weights is None else weights[start])
        img = renders.synthesize(latents[sl], space=space, c=None if c is None else c[sl], truncation=truncation)
        out.append(to_uint8(img))
        done = min(start + batch, frames)
        eta = (time.perf_counter() - started) / done * (frames - done)
        yield InterpolationProgress(done, frames, eta, np.concatenate(out) if done == frames else None)


@dataclass
class Video:
    """Rendered frames (uint8 [F, H, W, 3]) and their playback rate."""

    frames: np.ndarray
    fps: float = 24

    def save(self, path: Path | str) -> Path:
        """Write `.mp4` (H.264), `.gif`, or, for a path without a suffix, a folder of numbered PNG frames."""
        path = Path(path)
        suffix = path.suffix.lower()
        if suffix == ".mp4":
            return write_mp4(self.frames, path, fps=self.fps)
        if suffix == ".gif":
            return write_gif(self.frames, path, fps=self.fps)
        if suffix:
            raise GanlabError(f"a video is saved as .mp4, .gif or a folder of frames, not {suffix!r}")
        return write_folder_atomically(path, lambda tmp: [Image.fromarray(f).save(tmp / f"frame_{i:04d}.png")
                                                          for i, f in enumerate(self.frames)], "the frames")

    def strip(self, count: int = 8) -> Image.Image:
        """`count` evenly spaced frames side by side, for a quick look."""
        return Image.fromarray(frame_strip(self.frames, count))


def resize_frames(frames: np.ndarray, size: int) -> np.ndarray:
    """Frames scaled to `size` px square (nearest-neighbour up by whole factors keeps small demo pixels crisp)."""
    if not 16 <= size <= MAX_SIZE:
        raise GanlabError(f"a video frame is 16 to {MAX_SIZE} px, not {size}")
    side = frames.shape[1]
    if size == side:
        return frames
    if size % side == 0:
        k = size // side
        return frames.repeat(k, axis=1).repeat(k, axis=2)
    return np.stack([np.asarray(Image.fromarray(f).resize((size, size), Image.LANCZOS)) for f in frames])


def frame_strip(frames: np.ndarray, count: int = 8) -> np.ndarray:
    """`count` evenly spaced frames side by side (uint8 [H, count*W, 3]), for a quick look or a figure."""
    idx = np.linspace(0, len(frames) - 1, min(count, len(frames))).round().astype(int)
    return np.concatenate([frames[i] for i in idx], axis=1)
