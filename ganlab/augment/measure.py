"""Where the object is in a toy-object image, and how big: the yardstick for learned walks.

No judge network is needed: every toy background is a blend of two colours, so its pixels lie on a
segment in RGB space. The segment is fitted to the image border (robustly, since an object may touch
it, and extended, since the border may not show the whole blend); distance from it says "object".
Edges are anti-aliased and objects shaded, so one threshold would cut either the edges or the dark
side: a safe threshold finds the object's core (largest blob), hysteresis grows it down to the noise
floor, and a pixel counts when at least half covered, judged against nearby interior pixels -- the
renderer's own `object_mask` rule. Centre is the mask's centroid (the labels are area centroids);
scale comes from the area, in the renderer's units when the class is known, else as the side of the
square of equal area. On rendered objects 97% are within 1 px and 5% (grey objects on grey
backgrounds are the misses).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import cv2
import numpy as np
import torch

from ganlab.augment.transforms import SLIDES
from ganlab.data.toyobjects import SHAPES
from ganlab.imaging import to_uint8

BORDER = 3                # px of image border the background is fitted to
KEEP_FRACTION = 0.7       # border pixels closest to the first fit that the second fit uses
EXTEND = 1.0              # the segment is extended by this fraction of its length at each end
MIN_THRESHOLD = 30.0      # RGB distance (0..255) that surely is not background ...
MIN_FLOOR = 8.0           # ... and below which a pixel surely is background
SPREAD_FACTOR = (4.0, 3.0)  # those two, as multiples of the border's own residual spread, when larger
LEVEL_KERNEL = 7          # px: window in which an edge pixel finds the object's full-coverage distance


@dataclass
class Measurement:
    """`found` False when no object stands out; centre in pixels (pixel centres at integers)."""

    found: bool
    cx: float = float("nan")
    cy: float = float("nan")
    area: float = 0.0        # object pixels
    scale: float = float("nan")
    clipped: bool = False    # the object touches the image border, so part of it may be cut off


@lru_cache(maxsize=None)
def unit_area(cls: int) -> float:
    """Area of class `cls`'s silhouette at scale 1 (extent 1): outer polygon minus its holes."""
    def shoelace(p: np.ndarray) -> float:
        return abs(float(np.dot(p[:, 0], np.roll(p[:, 1], -1)) - np.dot(np.roll(p[:, 0], -1), p[:, 1]))) / 2

    polys = SHAPES[cls]
    return shoelace(polys[0]) - sum(shoelace(p) for p in polys[1:])


def background_distance(image: np.ndarray) -> tuple[np.ndarray, float, float]:
    """RGB distance [H, W] of each pixel from the background segment fitted on the border, the
    distance that surely is object and the noise floor below which it surely is background."""
    x = image.astype(np.float64)
    h, w = x.shape[:2]
    ring = np.ones((h, w), bool)
    ring[BORDER:h - BORDER, BORDER:w - BORDER] = False
    border = x[ring]
    spread_from_median = np.linalg.norm(border - np.median(border, 0), axis=1)
    line = _fit_segment(border[spread_from_median <= np.quantile(spread_from_median, KEEP_FRACTION)])
    residual = _segment_distance(border, *line)
    keep = border[residual <= np.quantile(residual, KEEP_FRACTION)]
    line = _fit_segment(keep)
    spread = float(np.quantile(_segment_distance(keep, *line), 0.95))
    dist = _segment_distance(x.reshape(-1, 3), *line).reshape(h, w)
    return dist, max(MIN_THRESHOLD, SPREAD_FACTOR[0] * spread), max(MIN_FLOOR, SPREAD_FACTOR[1] * spread)


def coverage(image: np.ndarray) -> np.ndarray:
    """float [H, W] in [0, 1]: how much of each pixel the object covers (uint8 [H, W, 3] input)."""
    dist, threshold, floor = background_distance(image)
    core = _largest_blob(dist > threshold)
    if not core.any():
        return np.zeros(dist.shape)
    _, labels = cv2.connectedComponents((dist > floor).astype(np.uint8), connectivity=8)
    grown = np.isin(labels, np.unique(labels[core]))
    kernel = np.ones((3, 3), np.uint8)
    interior = cv2.erode(grown.astype(np.uint8), kernel).astype(bool)
    window = np.ones((LEVEL_KERNEL, LEVEL_KERNEL), np.uint8)
    level = cv2.dilate(np.where(interior, dist, 0).astype(np.float32), window).astype(np.float64)
    cover = np.where(level > 0, np.clip(dist / np.maximum(level, 1e-6), 0, 1), 1.0)
    return np.where(grown, cover, 0.0)


def segment(image: np.ndarray) -> np.ndarray:
    """bool [H, W] object mask: pixels at least half covered (the renderer's `object_mask` rule)."""
    return coverage(image) >= 0.5


def _largest_blob(mask: np.ndarray) -> np.ndarray:
    count, labels, stats, _ = cv2.connectedComponentsWithStats(mask.astype(np.uint8), connectivity=8)
    if count <= 1:
        return np.zeros(mask.shape, bool)
    return labels == 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))


def measure_mask(mask: np.ndarray, cls: int | None = None) -> Measurement:
    """Centre and scale of a bool [H, W] object mask."""
    area = float(mask.sum())
    if area == 0:
        return Measurement(False)
    ys, xs = np.nonzero(mask)
    size = mask.shape[1]
    scale = np.sqrt(area / unit_area(cls)) / size if cls is not None else np.sqrt(area) / size
    clipped = bool(mask[0].any() or mask[-1].any() or mask[:, 0].any() or mask[:, -1].any())
    return Measurement(True, float(xs.mean()), float(ys.mean()), area, float(scale), clipped)


def measure(images: np.ndarray | torch.Tensor, classes: list[int] | None = None) -> list[Measurement]:
    """One `Measurement` per image: uint8 [N, H, W, 3] or `img` [N, 3, H, W] in [-1, 1]."""
    arr = to_uint8(images) if torch.is_tensor(images) else np.asarray(images)
    if arr.ndim == 3:
        arr = arr[None]
    classes = classes if classes is not None else [None] * len(arr)
    return [measure_mask(segment(im), cls) for im, cls in zip(arr, classes)]


def _fit_segment(pixels: np.ndarray) -> tuple[np.ndarray, np.ndarray, float, float]:
    """Mean, principal direction and projection range (extended by EXTEND) of RGB pixels [M, 3]."""
    mean = pixels.mean(0)
    centred = pixels - mean
    _, _, vt = np.linalg.svd(centred, full_matrices=False)
    axis = vt[0]
    proj = centred @ axis
    lo, hi = float(proj.min()), float(proj.max())
    margin = EXTEND * (hi - lo)
    return mean, axis, lo - margin, hi + margin


def _segment_distance(pixels: np.ndarray, mean: np.ndarray, axis: np.ndarray, lo: float, hi: float) -> np.ndarray:
    centred = pixels - mean
    t = np.clip(centred @ axis, lo, hi)
    return np.linalg.norm(centred - t[:, None] * axis, axis=1)


def edit_effect(name: str, before: Measurement, after: Measurement, size: int) -> float:
    """What an edit did to one object: the shift along slide `name` (fraction of the width), or for
    `zoom` the scale factor (square root of the area ratio)."""
    if name == "zoom":
        return float(np.sqrt(after.area / before.area))
    dx, dy = SLIDES[name]
    return ((after.cx - before.cx) * dx + (after.cy - before.cy) * dy) / size


def usable(before: Measurement, after: Measurement) -> bool:
    """Both found and neither cut off by the frame (a clipped object measures too small)."""
    return before.found and after.found and not (before.clipped or after.clipped)
