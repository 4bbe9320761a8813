"""Seeded cartoon faces with exact attribute labels, the training data of the demo face generator.

Every face is drawn from polygons in a local "face frame" (head half-width = 1, y pointing down,
origin at the head centre), mapped to pixels by the head's offset, scale and rotation. Knowing that
map is what lets `face_regions` say where each part landed, so tests can check labels against pixels.
"""

from __future__ import annotations

import colorsys
from dataclasses import dataclass
from functools import lru_cache

import cv2
import numpy as np

SKIN_TONES: list[tuple[int, int, int]] = [
    (250, 222, 198), (236, 192, 152), (206, 150, 108), (156, 104, 70), (98, 64, 44),
]
HAIR_COLORS: list[str] = ["black", "brown", "blond", "red", "grey"]
HAIR_RGB: list[tuple[int, int, int]] = [
    (32, 28, 30), (104, 64, 36), (232, 196, 108), (176, 66, 30), (178, 178, 184),
]
HAIR_STYLES: list[str] = ["short", "long", "bald"]

_HAIR_COLOR_P = [0.3, 0.3, 0.2, 0.1, 0.1]
_HAIR_STYLE_P = [0.45, 0.4, 0.15]
_SHIFT = 4
_FIX = float(1 << _SHIFT)
_EYE_WHITE = (246, 246, 244)
_IRIS = (70, 46, 30)
_MOUTH = (112, 34, 40)
_FRAME = (36, 30, 34)
_LENS = (18, 18, 24)


@dataclass
class FaceAttrs:
    """Everything that decides how a face looks; `render_face` is a pure function of it.

    Units: `offset` is a fraction of the image size, `rotation` is in degrees (clockwise on screen),
    `eye_size` lies in [0, 1], `smile` in [-1, 1] (> 0 is a smile, < 0 a frown), `skin_jitter` and
    `light` in [-1, 1] (skin brightness and where the light comes from, left to right).
    """

    skin: int
    hair_color: int
    hair_style: int
    eye_size: float
    smile: float
    eyeglasses: bool
    sunglasses: bool
    beard: bool
    background: tuple[int, int, int]
    offset: tuple[float, float]
    scale: float
    rotation: float
    skin_jitter: float = 0.0
    shirt: tuple[int, int, int] = (70, 90, 140)
    light: float = 0.0

    def __post_init__(self) -> None:
        if self.eyeglasses and self.sunglasses:
            raise ValueError("a face wears eyeglasses or sunglasses, not both")

    @property
    def skin_rgb(self) -> tuple[int, int, int]:
        """The skin colour after jitter, as drawn at full light."""
        return _scaled(SKIN_TONES[self.skin], 1.0 + 0.08 * self.skin_jitter)

    @property
    def hair_rgb(self) -> tuple[int, int, int]:
        return HAIR_RGB[self.hair_color]

    @property
    def beard_rgb(self) -> tuple[int, int, int]:
        """Beards are a little darker than the hair, so a blond beard still reads as a beard."""
        return _scaled(HAIR_RGB[self.hair_color], 0.88)


def item_rng(seed: int, index: int) -> np.random.Generator:
    """The generator for item `index` of dataset `seed`; independent of how many items are drawn."""
    return np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(index,)))


def _hsv_rgb(h: float, s: float, v: float) -> tuple[int, int, int]:
    r, g, b = colorsys.hsv_to_rgb(h % 1.0, s, v)
    return int(round(r * 255)), int(round(g * 255)), int(round(b * 255))


def _scaled(rgb: tuple[int, int, int], k: float) -> tuple[int, int, int]:
    return tuple(int(min(255, max(0, round(c * k)))) for c in rgb)  # type: ignore[return-value]


def sample_face_attrs(rng: np.random.Generator) -> FaceAttrs:
    """Draw one face; glasses ~20% / sunglasses ~20% (never both), beard ~25%, smiling ~50%."""
    glasses = rng.random()
    return FaceAttrs(
        skin=int(rng.integers(len(SKIN_TONES))),
        hair_color=int(rng.choice(len(HAIR_COLORS), p=_HAIR_COLOR_P)),
        hair_style=int(rng.choice(len(HAIR_STYLES), p=_HAIR_STYLE_P)),
        eye_size=float(rng.random()),
        smile=float(rng.uniform(-1.0, 1.0)),
        eyeglasses=bool(0.2 <= glasses < 0.4),
        sunglasses=bool(glasses < 0.2),
        beard=bool(rng.random() < 0.25),
        background=_hsv_rgb(rng.random(), rng.uniform(0.15, 0.55), rng.uniform(0.45, 0.95)),
        offset=(float(rng.uniform(-0.05, 0.05)), float(rng.uniform(-0.04, 0.04))),
        scale=float(rng.uniform(0.9, 1.08)),
        rotation=float(rng.uniform(-10.0, 10.0)),
        skin_jitter=float(rng.uniform(-1.0, 1.0)),
        shirt=_hsv_rgb(rng.random(), rng.uniform(0.3, 0.8), rng.uniform(0.3, 0.85)),
        light=float(rng.uniform(-1.0, 1.0)),
    )


class _Frame:
    """Maps face-frame points (head half-width = 1, y down) to pixels for one face and size."""

    def __init__(self, attrs: FaceAttrs, size: int):
        self.size = size
        self.unit = 0.27 * size * attrs.scale
        th = np.deg2rad(attrs.rotation)
        self.cos, self.sin = float(np.cos(th)), float(np.sin(th))
        self.cx = (0.5 + attrs.offset[0]) * size - 0.5
        self.cy = (0.47 + attrs.offset[1]) * size - 0.5
        self.mat = self.unit * np.array([[self.cos, self.sin], [-self.sin, self.cos]])
        self.lw = max(1, round(size / 64))

    def px(self, uv: np.ndarray) -> np.ndarray:
        """Float pixel coordinates (x, y) of face-frame points [N, 2]."""
        return uv @ self.mat + (self.cx, self.cy)

    def fixed(self, uv: np.ndarray) -> np.ndarray:
        """Pixel coordinates in OpenCV's fixed point (`shift` bits), for sub-pixel accurate drawing."""
        return np.round(self.px(uv) * _FIX).astype(np.int32)

    def local(self, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Face-frame coordinates of pixel grids, the inverse of `px`."""
        dx, dy = (x - self.cx) / self.unit, (y - self.cy) / self.unit
        return self.cos * dx + self.sin * dy, -self.sin * dx + self.cos * dy


@lru_cache(maxsize=64)
def _unit_arc(t0: float, t1: float, n: int) -> np.ndarray:
    t = np.deg2rad(np.linspace(t0, t1, n))
    return np.stack([np.cos(t), np.sin(t)], 1)


def _ellipse(cu: float, cv: float, ru: float, rv: float, t0: float = 0.0, t1: float = 360.0,
             n: int = 28) -> np.ndarray:
    """Face-frame points of an elliptic arc (angles in degrees, 90 = straight down)."""
    return _unit_arc(t0, t1, n) * (ru, rv) + (cu, cv)


@lru_cache(maxsize=4)
def _grid(size: int) -> tuple[np.ndarray, np.ndarray]:
    ys, xs = np.mgrid[0:size, 0:size].astype(np.float32)
    return xs, ys


def _fill(img: np.ndarray, fr: _Frame, polys: list[np.ndarray], color) -> None:
    """Fill each polygon on its own: one fillPoly call would leave overlaps empty (even-odd rule)."""
    for p in polys:
        cv2.fillPoly(img, [fr.fixed(p)], color, cv2.LINE_AA, _SHIFT)


def _stroke(img: np.ndarray, fr: _Frame, pts: np.ndarray, color, width: int, closed: bool = False) -> None:
    cv2.polylines(img, [fr.fixed(pts)], closed, color, width, cv2.LINE_AA, _SHIFT)


_HEAD = (1.0, 1.24)
_EYE_UV = (0.38, -0.1)
_MOUTH_V = 0.56


def _hair_cap(long: bool) -> list[np.ndarray]:
    """Hair on top of the head, ending at a hairline above the forehead; long hair also frames the face."""
    outer = _ellipse(0.0, -0.04, 1.1, 1.36, 172.0, 368.0, 24)
    hairline = np.array([[0.94, 0.08], [0.9, -0.3], [0.6, -0.58], [0.18, -0.7], [-0.12, -0.64],
                         [-0.55, -0.6], [-0.9, -0.3], [-0.94, 0.08]])
    polys = [np.concatenate([outer, hairline])]
    if long:
        for s in (-1.0, 1.0):
            side = np.array([[0.84, -0.4], [0.93, 0.3], [0.92, 0.95], [1.16, 1.02], [1.2, 0.3], [1.1, -0.4]])
            polys.append(side * (s, 1.0))
    return polys


def _hair_back() -> np.ndarray:
    """Long hair behind the head, falling to the shoulders."""
    top = _ellipse(0.0, 0.0, 1.24, 1.42, 180.0, 360.0, 20)
    return np.concatenate([top, [[1.3, 1.6], [0.8, 1.75], [-0.8, 1.75], [-1.3, 1.6]]])


def _skin_alpha(fr: _Frame) -> np.ndarray:
    """Anti-aliased coverage of head, ears and neck (0..1), so skin can be shaded and composited."""
    alpha = np.zeros((fr.size, fr.size), np.uint8)
    neck = np.array([[-0.4, 0.8], [0.4, 0.8], [0.44, 1.6], [0.0, 1.95], [-0.44, 1.6]])
    polys = [neck, _ellipse(-0.97, -0.02, 0.17, 0.26), _ellipse(0.97, -0.02, 0.17, 0.26),
             _ellipse(0.0, 0.0, *_HEAD, n=40)]
    _fill(alpha, fr, polys, 255)
    return alpha.astype(np.float32) * (1.0 / 255.0)


def _shading(attrs: FaceAttrs, fr: _Frame) -> np.ndarray:
    """Light falloff over the skin: bright near a highlight on the forehead, darker at the rim and neck."""
    xs, ys = _grid(fr.size)
    u, v = fr.local(xs, ys)
    d2 = ((u - 0.45 * attrs.light) * (1 / 1.3)) ** 2 + ((v + 0.45) * (1 / 1.6)) ** 2
    return np.clip(1.05 - 0.3 * d2, 0.7, 1.05)


def _mouth_curves(smile: float) -> tuple[np.ndarray, np.ndarray]:
    """Upper and lower lip lines: corners rise with `smile`; a clear smile opens the mouth."""
    x = np.linspace(-1.0, 1.0, 11)
    bow = 1.0 - x ** 2
    half_width = 0.3 + 0.06 * abs(smile)
    upper_v = _MOUTH_V + smile * 0.15 * (bow - 0.5)
    opening = max(smile - 0.15, 0.0) * 0.25 * bow
    upper = np.stack([x * half_width, upper_v], 1)
    lower = np.stack([x * half_width, upper_v + opening], 1)
    return upper, lower


def _draw_mouth(img: np.ndarray, fr: _Frame, smile: float) -> None:
    upper, lower = _mouth_curves(smile)
    if smile > 0.15:
        _fill(img, fr, [np.concatenate([upper, lower[::-1]])], _MOUTH)
        teeth = np.concatenate([upper[2:-2], (upper[2:-2] * 0.7 + lower[2:-2] * 0.3)[::-1]])
        _fill(img, fr, [teeth], (236, 232, 222))
    _stroke(img, fr, upper, _MOUTH, fr.lw)


def _draw_eyes(img: np.ndarray, fr: _Frame, attrs: FaceAttrs) -> None:
    ru = 0.12 + 0.12 * attrs.eye_size
    rv = 0.78 * ru
    brow = _scaled(attrs.hair_rgb, 0.75)
    for s in (-1.0, 1.0):
        eu, ev = s * _EYE_UV[0], _EYE_UV[1]
        _fill(img, fr, [_ellipse(eu, ev, ru, rv, n=20)], _EYE_WHITE)
        _fill(img, fr, [_ellipse(eu + 0.02 * attrs.light, ev, rv * 0.85, rv * 0.85, n=16)], _IRIS)
        _fill(img, fr, [_ellipse(eu + 0.02 * attrs.light, ev, rv * 0.42, rv * 0.42, n=12)], (10, 8, 8))
        arc = np.array([[0.18, -0.36], [0.38, -0.46], [0.6, -0.38]]) * (s, 1.0)
        _stroke(img, fr, arc, brow, fr.lw + 1 if fr.size >= 96 else fr.lw)


def _draw_glasses(img: np.ndarray, fr: _Frame, attrs: FaceAttrs) -> None:
    lenses = [_ellipse(s * _EYE_UV[0], _EYE_UV[1] - 0.02, 0.3, 0.23, n=24) for s in (-1.0, 1.0)]
    bridge = np.array([[-0.1, -0.16], [0.0, -0.2], [0.1, -0.16]])
    temples = [np.array([[s * 0.68, -0.14], [s * 0.98, -0.18]]) for s in (-1.0, 1.0)]
    if attrs.sunglasses:
        _fill(img, fr, lenses, _LENS)
        for s in (-1.0, 1.0):
            glare = np.array([[s * 0.26 - 0.1, -0.2], [s * 0.26 - 0.02, -0.26]])
            _stroke(img, fr, glare, (110, 110, 120), 1)
    for lens in lenses:
        _stroke(img, fr, lens, _FRAME, fr.lw, closed=True)
    for line in [bridge, *temples]:
        _stroke(img, fr, line, _FRAME, fr.lw)


def render_face(attrs: FaceAttrs, size: int = 64) -> np.ndarray:
    """[size, size, 3] uint8 RGB image of the face described by `attrs`."""
    fr = _Frame(attrs, size)
    img = np.empty((size, size, 3), np.uint8)
    img[:] = attrs.background
    _fill(img, fr, [_ellipse(0.0, 2.35, 1.95, 0.85, 180.0, 360.0, 24)], attrs.shirt)
    if HAIR_STYLES[attrs.hair_style] == "long":
        _fill(img, fr, [_hair_back()], _scaled(attrs.hair_rgb, 0.82))
    alpha = _skin_alpha(fr)
    skin = np.asarray(attrs.skin_rgb, np.float32)
    lit = (alpha * _shading(attrs, fr))[..., None] * skin
    img = np.minimum(img * (1.0 - alpha)[..., None] + lit + 0.5, 255.0).astype(np.uint8)
    skin_dark = _scaled(attrs.skin_rgb, 0.72)
    _stroke(img, fr, _ellipse(0.0, 0.17, 0.11, 0.08, 20.0, 160.0, 8), skin_dark, fr.lw)
    _stroke(img, fr, np.array([[-0.04 * attrs.light, -0.05], [-0.06 * attrs.light, 0.12]]), skin_dark, 1)
    if attrs.beard:
        jaw = _ellipse(0.0, 0.0, 1.03, 1.28, 6.0, 174.0, 24)
        top = np.array([[-0.8, 0.28], [-0.3, 0.34], [0.0, 0.31], [0.3, 0.34], [0.8, 0.28]])
        _fill(img, fr, [np.concatenate([jaw, top])], attrs.beard_rgb)
    _draw_mouth(img, fr, attrs.smile)
    _draw_eyes(img, fr, attrs)
    style = HAIR_STYLES[attrs.hair_style]
    if style == "bald":
        _fill(img, fr, [_ellipse(s * 0.96, -0.2, 0.1, 0.26, n=12) for s in (-1.0, 1.0)], attrs.hair_rgb)
    else:
        _fill(img, fr, _hair_cap(style == "long"), attrs.hair_rgb)
        shine = _scaled(attrs.hair_rgb, 1.25) if attrs.hair_color != 0 else (78, 72, 76)
        _stroke(img, fr, _ellipse(-0.1 * attrs.light, -0.05, 0.8, 1.1, 235.0, 300.0, 8), shine, 1)
    if attrs.eyeglasses or attrs.sunglasses:
        _draw_glasses(img, fr, attrs)
    return img


_REGIONS: dict[str, tuple[float, float, float, float]] = {
    "eyes": (-0.62, -0.3, 0.62, 0.08),
    "mouth": (-0.46, 0.36, 0.46, 0.92),
    "chin": (-0.3, 0.92, 0.3, 1.1),
    "hair": (-0.42, -1.14, 0.42, -0.82),
    "cheeks": (-0.82, 0.1, -0.55, 0.4),
    "head": (-1.0, -1.24, 1.0, 1.24),
}


def face_regions(attrs: FaceAttrs, size: int = 64) -> dict[str, tuple[int, int, int, int]]:
    """Pixel boxes (x0, y0, x1, y1; end-exclusive) around each part of this face.

    The boxes are the axis-aligned bounds of fixed face-frame rectangles, so they follow the head's
    offset, scale and rotation: 'eyes' (both eyes and lenses), 'mouth', 'chin' (covered by a beard),
    'hair' (top of the head, covered unless bald), 'cheeks' (left cheek, skin in every face), 'head'.
    """
    fr = _Frame(attrs, size)
    boxes = {}
    for name, (u0, v0, u1, v1) in _REGIONS.items():
        corners = fr.px(np.array([[u0, v0], [u1, v0], [u1, v1], [u0, v1]]))
        lo = np.clip(np.floor(corners.min(0) + 0.5), 0, size).astype(int)
        hi = np.clip(np.ceil(corners.max(0) + 0.5), 0, size).astype(int)
        boxes[name] = (int(lo[0]), int(lo[1]), int(hi[0]), int(hi[1]))
    return boxes


def render_faces(n: int, seed: int, size: int = 64, start: int = 0) -> tuple[np.ndarray, list[FaceAttrs]]:
    """Faces `start` .. `start + n - 1` of dataset `seed` as [n, size, size, 3] uint8 plus their attributes.

    Item i depends only on (seed, i), so a dataset can be rendered in chunks with `start`.
    """
    attrs = [sample_face_attrs(item_rng(seed, start + i)) for i in range(n)]
    images = np.empty((n, size, size, 3), np.uint8)
    for i, a in enumerate(attrs):
        images[i] = render_face(a, size)
    return images, attrs


def face_labels(attrs: list[FaceAttrs]) -> dict[str, np.ndarray]:
    """Per-face labels by name, for attribute classifiers and SVM edit directions.

    Binary labels are bool: 'smile' (smile > 0), 'sunglasses', 'eyeglasses', 'glasses' (either),
    'beard', 'bald', 'long_hair', 'dark_skin' (the two darkest tones) and one 'hair_<colour>' per
    colour. Continuous labels are float32: 'smile_amount', 'eye_size', 'rotation', 'scale',
    'offset_x', 'offset_y', 'skin_jitter', 'light'. Categorical indices are int64: 'skin',
    'hair_color', 'hair_style'.
    """
    def arr(fn, dtype) -> np.ndarray:
        return np.array([fn(a) for a in attrs], dtype=dtype)

    labels = {
        "smile": arr(lambda a: a.smile > 0, bool),
        "sunglasses": arr(lambda a: a.sunglasses, bool),
        "eyeglasses": arr(lambda a: a.eyeglasses, bool),
        "glasses": arr(lambda a: a.sunglasses or a.eyeglasses, bool),
        "beard": arr(lambda a: a.beard, bool),
        "bald": arr(lambda a: HAIR_STYLES[a.hair_style] == "bald", bool),
        "long_hair": arr(lambda a: HAIR_STYLES[a.hair_style] == "long", bool),
        "dark_skin": arr(lambda a: a.skin >= len(SKIN_TONES) - 2, bool),
        "smile_amount": arr(lambda a: a.smile, np.float32),
        "eye_size": arr(lambda a: a.eye_size, np.float32),
        "rotation": arr(lambda a: a.rotation, np.float32),
        "scale": arr(lambda a: a.scale, np.float32),
        "offset_x": arr(lambda a: a.offset[0], np.float32),
        "offset_y": arr(lambda a: a.offset[1], np.float32),
        "skin_jitter": arr(lambda a: a.skin_jitter, np.float32),
        "light": arr(lambda a: a.light, np.float32),
        "skin": arr(lambda a: a.skin, np.int64),
        "hair_color": arr(lambda a: a.hair_color, np.int64),
        "hair_style": arr(lambda a: a.hair_style, np.int64),
    }
    for k, name in enumerate(HAIR_COLORS):
        labels[f"hair_{name}"] = labels["hair_color"] == k
    return labels
