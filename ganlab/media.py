"""Writing frame sequences as MP4 (H.264 through imageio-ffmpeg's bundled ffmpeg) and GIF."""

from __future__ import annotations

from pathlib import Path
from typing import Iterable

import imageio.v2 as imageio
import numpy as np


def _even(frame: np.ndarray) -> np.ndarray:
    """H.264 with yuv420p needs even sides: pad by one edge pixel where needed."""
    h, w = frame.shape[:2]
    return np.pad(frame, ((0, h % 2), (0, w % 2), (0, 0)), mode="edge")


def write_mp4(frames: Iterable[np.ndarray], path: Path | str, fps: float = 24) -> Path:
    """uint8 [H, W, 3] frames -> an H.264 MP4 that browsers play."""
    path = Path(path)
    with imageio.get_writer(path, fps=fps, codec="libx264", quality=8, pixelformat="yuv420p",
                            macro_block_size=1) as writer:
        for frame in frames:
            writer.append_data(_even(np.asarray(frame, dtype=np.uint8)))
    return path


def write_gif(frames: Iterable[np.ndarray], path: Path | str, fps: float = 12) -> Path:
    path = Path(path)
    imageio.mimsave(path, [np.asarray(f, dtype=np.uint8) for f in frames], duration=1000 / fps, loop=0)
    return path
