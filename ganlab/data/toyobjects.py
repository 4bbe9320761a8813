"""Class-conditional toy objects on textured backgrounds, the training data of the demo BigGAN.

Each class is a fixed silhouette (polygons, holes allowed) normalised so that its area centroid is
at the origin and its larger bounding-box side is 1. A placed object is that silhouette scaled by
`scale * size`, rotated and moved to (cx, cy); hence the labels are exact: the silhouette's centroid
is (cx, cy) and its extent in its own frame is `scale * size` pixels.
"""

from __future__ import annotations

import colorsys
from dataclasses import dataclass
from functools import lru_cache

import cv2
import numpy as np

from ganlab.data.toyfaces import item_rng

CLASS_NAMES: list[str] = [
    "disc", "square", "triangle", "star", "ring", "cross", "heart", "crescent", "arrow", "house",
]
BACKGROUND_KINDS: list[str] = ["gradient", "stripes", "noise", "radial"]

_PALETTES: list[list[tuple[int, int, int]]] = [
    [(222, 44, 36), (236, 112, 32)],
    [(40, 90, 222), (28, 60, 168)],
    [(40, 170, 64), (136, 200, 40)],
    [(246, 204, 32), (250, 172, 24)],
    [(142, 62, 202), (200, 52, 196)],
    [(24, 178, 190), (238, 240, 244)],
    [(230, 30, 92), (250, 112, 164)],
    [(250, 236, 150), (200, 206, 218)],
    [(245, 132, 22), (214, 64, 20)],
    [(150, 86, 46), (92, 112, 144)],
]
_SHIFT = 4
_FIX = float(1 << _SHIFT)


@dataclass
class Background:
    """A muted texture behind the object: two colours mixed by `kind` (see BACKGROUND_KINDS).

    `angle` (radians) orients gradients and stripes and places the radial centre, `freq` is stripe
    cycles per image, `phase` shifts the stripes, `seed` fixes the noise pattern.
    """

    kind: int
    color_a: tuple[int, int, int]
    color_b: tuple[int, int, int]
    angle: float
    freq: float
    phase: float
    seed: int


@dataclass
class ObjectAttrs:
    """One object and its background; `render_object` is a pure function of it.

    (cx, cy) is the silhouette's centroid in pixels of a `size` x `size` image (pixel centres at
    integers), `scale` the silhouette's extent in its own frame over the image size, `rotation` in
    degrees (clockwise on screen), `light` in [-1, 1] tilts the shading from left to right.
    """

    cls: int
    cx: float
    cy: float
    scale: float
    rotation: float
    color: tuple[int, int, int]
    background: Background
    light: float = 0.0
    size: int = 64

    @property
    def class_name(self) -> str:
        return CLASS_NAMES[self.cls]


def _circle(r: float, n: int = 48, cx: float = 0.0, cy: float = 0.0) -> np.ndarray:
    t = np.linspace(0.0, 2 * np.pi, n, endpoint=False)
    return np.stack([cx + r * np.cos(t), cy + r * np.sin(t)], 1)


def _star() -> np.ndarray:
    t = np.linspace(0.0, 2 * np.pi, 10, endpoint=False) - np.pi / 2
    r = np.where(np.arange(10) % 2 == 0, 1.0, 0.42)
    return np.stack([r * np.cos(t), r * np.sin(t)], 1)


def _heart() -> np.ndarray:
    t = np.linspace(0.0, 2 * np.pi, 64, endpoint=False)
    x = 16 * np.sin(t) ** 3
    y = -(13 * np.cos(t) - 5 * np.cos(2 * t) - 2 * np.cos(3 * t) - np.cos(4 * t))
    return np.stack([x, y], 1)


def _crescent() -> np.ndarray:
    """The unit disc minus a disc of radius `r` centred at (d, 0): outer arc, then inner arc back."""
    d, r = 0.55, 0.85
    x = (1 + d * d - r * r) / (2 * d)
    a_out = np.arctan2(np.sqrt(1 - x * x), x)
    a_in = np.arctan2(np.sqrt(1 - x * x), x - d)
    t_out = np.linspace(a_out, 2 * np.pi - a_out, 40)
    t_in = np.linspace(2 * np.pi - a_in, a_in, 32)
    outer = np.stack([np.cos(t_out), np.sin(t_out)], 1)
    inner = np.stack([d + r * np.cos(t_in), r * np.sin(t_in)], 1)
    return np.concatenate([outer, inner])


def _raw_shapes() -> list[list[np.ndarray]]:
    """Silhouettes in arbitrary units, y down; a class's later polygons are holes in its first."""
    cross = np.array([[-1, -3], [1, -3], [1, -1], [3, -1], [3, 1], [1, 1], [1, 3], [-1, 3],
                      [-1, 1], [-3, 1], [-3, -1], [-1, -1]], float)
    arrow = np.array([[-3, -0.8], [0.6, -0.8], [0.6, -2], [3, 0], [0.6, 2], [0.6, 0.8], [-3, 0.8]])
    house = np.array([[-2, 3], [-2, 0], [-2.6, 0], [0, -2.4], [1.2, -1.3], [1.2, -2.4], [1.8, -2.4],
                      [1.8, -0.75], [2.6, 0], [2, 0], [2, 3], [0.55, 3], [0.55, 1.3], [-0.55, 1.3], [-0.55, 3]])
    tri = np.array([[0.0, -1.0], [np.sqrt(3) / 2, 0.5], [-np.sqrt(3) / 2, 0.5]])
    return [
        [_circle(1.0)],
        [np.array([[-1, -1], [1, -1], [1, 1], [-1, 1]], float)],
        [tri],
        [_star()],
        [_circle(1.0), _circle(0.58)],
        [cross],
        [_heart()],
        [_crescent()],
        [arrow],
        [house],
    ]


def _area_centroid(poly: np.ndarray) -> tuple[float, np.ndarray]:
    """Unsigned area and centroid of a simple polygon (shoelace formula)."""
    x, y = poly[:, 0], poly[:, 1]
    xn, yn = np.roll(x, -1), np.roll(y, -1)
    cross = x * yn - xn * y
    a = cross.sum() / 2
    c = np.array([((x + xn) * cross).sum(), ((y + yn) * cross).sum()]) / (6 * a)
    return abs(a), c


def _normalise(polys: list[np.ndarray]) -> list[np.ndarray]:
    """Move the area centroid (holes subtracted) to the origin and make the larger bbox side 1."""
    parts = [_area_centroid(p) for p in polys]
    weights = np.array([a if i == 0 else -a for i, (a, _) in enumerate(parts)])
    centroid = sum(w * c for w, (_, c) in zip(weights, parts)) / weights.sum()
    extent = (polys[0].max(0) - polys[0].min(0)).max()
    return [(p - centroid) / extent for p in polys]


SHAPES: list[list[np.ndarray]] = [_normalise(p) for p in _raw_shapes()]
_RADIUS = [float(np.linalg.norm(p[0], axis=1).max()) for p in SHAPES]


def _hsv_rgb(h: float, s: float, v: float) -> tuple[int, int, int]:
    r, g, b = colorsys.hsv_to_rgb(h % 1.0, min(max(s, 0.0), 1.0), min(max(v, 0.0), 1.0))
    return int(round(r * 255)), int(round(g * 255)), int(round(b * 255))


def _jitter(rgb: tuple[int, int, int], rng: np.random.Generator) -> tuple[int, int, int]:
    h, s, v = colorsys.rgb_to_hsv(*(c / 255 for c in rgb))
    return _hsv_rgb(h + rng.uniform(-0.025, 0.025), s * rng.uniform(0.85, 1.05), v * rng.uniform(0.85, 1.05))


def sample_background(rng: np.random.Generator) -> Background:
    """A low-saturation texture so that the saturated objects stand out."""
    hue = rng.random()
    v = rng.uniform(0.3, 0.85)
    return Background(
        kind=int(rng.integers(len(BACKGROUND_KINDS))),
        color_a=_hsv_rgb(hue, rng.uniform(0.05, 0.35), v),
        color_b=_hsv_rgb(hue + rng.uniform(-0.15, 0.15), rng.uniform(0.05, 0.35), v + rng.uniform(-0.25, 0.25)),
        angle=float(rng.uniform(0.0, 2 * np.pi)),
        freq=float(rng.uniform(2.0, 6.0)),
        phase=float(rng.uniform(0.0, 2 * np.pi)),
        seed=int(rng.integers(2**31)),
    )


def sample_object_attrs(rng: np.random.Generator, cls: int | None = None, size: int = 64) -> ObjectAttrs:
    """Draw one object: scale 0.25-0.6, centre within the middle 60% and the object fully in view."""
    cls = int(rng.integers(len(CLASS_NAMES))) if cls is None else int(cls)
    scale = float(rng.uniform(0.25, 0.6))
    reach = _RADIUS[cls] * scale + 1.5 / size
    lo, hi = max(0.2, reach), min(0.8, 1.0 - reach)
    centre = rng.uniform(lo, hi, size=2) if lo < hi else np.full(2, 0.5)
    palette = _PALETTES[cls]
    return ObjectAttrs(
        cls=cls,
        cx=float(centre[0] * size - 0.5),
        cy=float(centre[1] * size - 0.5),
        scale=scale,
        rotation=float(rng.uniform(-25.0, 25.0)),
        color=_jitter(palette[int(rng.integers(len(palette)))], rng),
        background=sample_background(rng),
        light=float(rng.uniform(-1.0, 1.0)),
        size=size,
    )


@lru_cache(maxsize=4)
def _grid(size: int) -> tuple[np.ndarray, np.ndarray]:
    """Pixel coordinates over the image, in units of the image size and centred on it."""
    ys, xs = np.mgrid[0:size, 0:size].astype(np.float32)
    return (xs + 0.5) / size - 0.5, (ys + 0.5) / size - 0.5


def render_background(bg: Background, size: int = 64) -> np.ndarray:
    """[size, size, 3] float32 texture in 0..255."""
    xs, ys = _grid(size)
    ca, sa = np.cos(bg.angle), np.sin(bg.angle)
    kind = BACKGROUND_KINDS[bg.kind]
    if kind == "gradient":
        t = np.clip((xs * ca + ys * sa) * 1.2 + 0.5, 0.0, 1.0)
    elif kind == "stripes":
        t = np.clip(2.0 * np.sin(2 * np.pi * bg.freq * (xs * ca + ys * sa) + bg.phase), -1.0, 1.0) * 0.5 + 0.5
    elif kind == "noise":
        coarse = np.random.default_rng(bg.seed).random((5, 5)).astype(np.float32)
        t = np.clip(cv2.resize(coarse, (size, size), interpolation=cv2.INTER_CUBIC), 0.0, 1.0)
    else:
        t = np.clip(np.hypot(xs - 0.3 * ca, ys - 0.3 * sa) * 1.4, 0.0, 1.0)
    a = np.asarray(bg.color_a, np.float32)
    b = np.asarray(bg.color_b, np.float32)
    return a + t[..., None] * (b - a)


_SS = 4


def _coverage(attrs: ObjectAttrs, size: int) -> np.ndarray:
    """[size, size] float32 fraction of each pixel inside the silhouette.

    OpenCV fills every pixel an edge touches (about half a pixel too wide), so the silhouette is
    filled at 4x and averaged down; that keeps the bias at 1/8 pixel and the labels exact.
    """
    big = size * _SS
    k = big / attrs.size
    th = np.deg2rad(attrs.rotation)
    mat = attrs.scale * big * np.array([[np.cos(th), np.sin(th)], [-np.sin(th), np.cos(th)]])
    centre = ((attrs.cx + 0.5) * k - 0.5, (attrs.cy + 0.5) * k - 0.5)
    polys = [np.round((p @ mat + centre) * _FIX).astype(np.int32) for p in SHAPES[attrs.cls]]
    canvas = np.zeros((big, big), np.uint8)
    cv2.fillPoly(canvas, polys, 255, cv2.LINE_8, _SHIFT)
    return cv2.resize(canvas, (size, size), interpolation=cv2.INTER_AREA).astype(np.float32) * (1.0 / 255.0)


def object_mask(attrs: ObjectAttrs, size: int | None = None) -> np.ndarray:
    """[size, size] bool silhouette: pixels at least half inside the object (default: the attrs' size)."""
    return _coverage(attrs, attrs.size if size is None else size) >= 0.5


def render_object(attrs: ObjectAttrs, size: int | None = None) -> np.ndarray:
    """[size, size, 3] uint8 RGB image; `size` defaults to the one the attrs' pixel coordinates refer to."""
    size = attrs.size if size is None else size
    a = _coverage(attrs, size)
    xs, ys = _grid(size)
    ox, oy = (attrs.cx + 0.5) / attrs.size - 0.5, (attrs.cy + 0.5) / attrs.size - 0.5
    shade = 1.0 + 0.5 * (attrs.light * (xs - ox) - (ys - oy)) / attrs.scale
    fg = np.clip(shade, 0.75, 1.2)[..., None] * np.asarray(attrs.color, np.float32)
    out = render_background(attrs.background, size) * (1.0 - a)[..., None] + fg * a[..., None]
    return np.clip(out + 0.5, 0.0, 255.0).astype(np.uint8)


def render_objects(n: int, seed: int, size: int = 64, classes: list[int] | None = None,
                   start: int = 0) -> tuple[np.ndarray, list[ObjectAttrs]]:
    """Objects `start` .. `start + n - 1` of dataset `seed`: [n, size, size, 3] uint8 plus attributes.

    The class of each item is uniform over `classes` (default: all). Item i depends only on
    (seed, i, classes, size), so a dataset can be rendered in chunks with `start`.
    """
    attrs = []
    for i in range(n):
        rng = item_rng(seed, start + i)
        cls = None if classes is None else classes[int(rng.integers(len(classes)))]
        attrs.append(sample_object_attrs(rng, cls, size))
    images = np.empty((n, size, size, 3), np.uint8)
    for i, a in enumerate(attrs):
        images[i] = render_object(a, size)
    return images, attrs


def object_labels(attrs: list[ObjectAttrs]) -> dict[str, np.ndarray]:
    """Per-object labels: 'cls' (int64), 'cx', 'cy' (pixels), 'scale', 'rotation' (float32)."""
    return {
        "cls": np.array([a.cls for a in attrs], np.int64),
        "cx": np.array([a.cx for a in attrs], np.float32),
        "cy": np.array([a.cy for a in attrs], np.float32),
        "scale": np.array([a.scale for a in attrs], np.float32),
        "rotation": np.array([a.rotation for a in attrs], np.float32),
    }
