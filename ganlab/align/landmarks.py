"""68-point face landmarks from dlib (offline default, what FFHQ used) or FAN (face-alignment), one interface.

Every backend returns faces largest first, with iBUG-68 points in the caller's pixel coordinates,
however much the photo was shrunk for detection.
"""

from __future__ import annotations

import importlib.util
import os
import threading
import urllib.error
import urllib.request
import warnings
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Protocol

import numpy as np
from PIL import Image

from ganlab import settings
from ganlab.errors import GanlabError

BACKENDS = ("auto", "dlib", "fan")
# Photos up to this size are detected as they are, exactly like the golden FFHQ run; larger ones
# (a 6000x4000 camera photo has 9x the pixels of its 1600 px copy) on a copy of DETECT_SIDE.
MAX_DETECT_SIDE = 2048
DETECT_SIDE = 1600


class NoFaceFound(GanlabError):
    """The detector found no face; the caller may fall back to `center_crop_resize`."""


class BackendUnavailable(GanlabError):
    """A landmark backend cannot run here; the message says why."""


@dataclass(frozen=True)
class Face:
    """One detected face: 68 (x, y) points [68, 2] and its detection box (left, top, right, bottom)."""

    points: np.ndarray
    box: tuple[float, float, float, float]
    score: float

    @property
    def area(self) -> float:
        return (self.box[2] - self.box[0]) * (self.box[3] - self.box[1])


@dataclass(frozen=True)
class Detection:
    """All faces in one photo, largest first, and which backend found them."""

    faces: list[Face]
    backend: str
    image_size: tuple[int, int]
    detect_scale: float


@dataclass(frozen=True)
class BackendStatus:
    name: str
    available: bool
    reason: str


class Backend(Protocol):
    name: str

    def detect(self, rgb: np.ndarray) -> list[Face]:
        """Faces in an RGB uint8 [H, W, 3] array, in that array's pixel coordinates, any order."""


def dlib_model_path() -> Path:
    """The 68-point model shipped in face_recognition_models, found without importing the package.

    Its __init__ imports pkg_resources, which current setuptools no longer provides.
    """
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or spec.origin is None:
        raise BackendUnavailable("dlib landmarks need the 'face-recognition-models' package "
                                 "(pip install face-recognition-models)")
    path = Path(spec.origin).parent / "models" / "shape_predictor_68_face_landmarks.dat"
    if not path.is_file():
        raise BackendUnavailable(f"dlib landmark model not found at {path}; reinstall face-recognition-models")
    return path


class DlibBackend:
    """HOG detector upsampled once, threshold 0, as in the golden FFHQ run."""

    name = "dlib"

    def __init__(self) -> None:
        try:
            import dlib
        except ImportError as exc:
            raise BackendUnavailable(f"dlib is not installed (pip install dlib-bin): {exc}") from exc
        self._detector = dlib.get_frontal_face_detector()
        self._predictor = dlib.shape_predictor(str(dlib_model_path()))

    def detect(self, rgb: np.ndarray) -> list[Face]:
        rgb = np.ascontiguousarray(rgb)
        rects, scores, _ = self._detector.run(rgb, 1, 0.0)
        faces = []
        for rect, score in zip(rects, scores):
            shape = self._predictor(rgb, rect)
            points = np.array([[p.x, p.y] for p in shape.parts()], dtype=np.float64)
            box = (float(rect.left()), float(rect.top()), float(rect.right()), float(rect.bottom()))
            faces.append(Face(points=points, box=box, score=float(score)))
        return faces


def _fan_weight_urls() -> list[str]:
    from face_alignment.api import models_urls
    from face_alignment.detection.sfd.sfd_detector import models_urls as sfd_urls

    return [sfd_urls["s3fd"], models_urls["2DFAN-4"]]


def _hub_checkpoints() -> Path:
    import torch.hub

    return Path(torch.hub.get_dir()) / "checkpoints"


def _head(url: str, timeout: float) -> str | None:
    try:
        with urllib.request.urlopen(urllib.request.Request(url, method="HEAD"), timeout=timeout):
            return None
    except urllib.error.HTTPError as exc:  # the server answered; only "gone" means no download
        return f"HTTP {exc.code}" if exc.code in (404, 410) else None
    except (urllib.error.URLError, OSError, ValueError) as exc:
        return str(getattr(exc, "reason", exc))


def _reachable(url: str, timeout: float) -> str | None:
    """None when the URL answers within `timeout` seconds, else why not.

    Runs in a daemon thread because name resolution ignores urlopen's timeout and can stall.
    """
    answer: list[str | None] = []
    worker = threading.Thread(target=lambda: answer.append(_head(url, timeout)), daemon=True)
    worker.start()
    worker.join(timeout + 1.0)
    return answer[0] if answer else f"no answer within {timeout:g} s"


@lru_cache(maxsize=1)
def fan_status(timeout: float = 3.0) -> BackendStatus:
    """Whether FAN can run, decided without hanging: face_alignment downloads its weights on construction."""
    if importlib.util.find_spec("face_alignment") is None:
        return BackendStatus("fan", False, "the 'face-alignment' package is not installed")
    try:
        urls = _fan_weight_urls()
        cache = _hub_checkpoints()
    except Exception as exc:  # a broken install must read as "unavailable", not crash auto mode
        return BackendStatus("fan", False, f"face_alignment does not import: {type(exc).__name__}: {exc}")
    missing = [u for u in urls if not (cache / os.path.basename(u)).is_file()]
    if not missing:
        return BackendStatus("fan", True, f"weights cached in {cache}")
    names = ", ".join(os.path.basename(u) for u in missing)
    if settings.offline():
        return BackendStatus("fan", False, f"weights {names} are not in {cache} and offline mode is on")
    problem = _reachable(missing[0], timeout)
    if problem is not None:
        return BackendStatus("fan", False, f"weights {names} are not in {cache} and cannot be downloaded "
                                           f"from {missing[0]}: {problem}")
    return BackendStatus("fan", True, f"weights {names} will be downloaded to {cache} on first use")


class FanBackend:
    """face_alignment's 2D FAN with its own S3FD detector; GPU when there is one."""

    name = "fan"

    def __init__(self, device: str | None = None) -> None:
        status = fan_status()
        if not status.available:
            raise BackendUnavailable(f"FAN landmarks are unavailable: {status.reason}")
        import face_alignment
        import torch

        device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        try:
            self._fa = face_alignment.FaceAlignment(face_alignment.LandmarksType.TWO_D, device=device,
                                                    face_detector="sfd", compile=False)
        except Exception as exc:  # download or load failure inside a third-party constructor
            raise BackendUnavailable(f"FAN could not be loaded: {type(exc).__name__}: {exc}") from exc

    def detect(self, rgb: np.ndarray) -> list[Face]:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            points, _, boxes = self._fa.get_landmarks_from_image(rgb, return_bboxes=True)
        if points is None:
            return []
        return [Face(points=np.asarray(p, dtype=np.float64)[:, :2], box=tuple(float(v) for v in b[:4]),
                     score=float(b[4]))
                for p, b in zip(points, boxes)]


def resolve_backend(name: str = "auto") -> str:
    """'auto' becomes 'fan' when FAN can run, else 'dlib'."""
    if name not in BACKENDS:
        raise GanlabError(f"unknown landmark backend {name!r}; choose one of {', '.join(BACKENDS)}")
    if name == "auto":
        return "fan" if fan_status().available else "dlib"
    return name


def get_backend(name: str = "auto") -> Backend:
    """A loaded backend for 'auto', 'dlib' or 'fan'; 'auto' still ends on dlib if FAN fails to load."""
    resolved = resolve_backend(name)
    loaded = _load_backend(resolved)
    if isinstance(loaded, BackendUnavailable) and name == "auto" and resolved == "fan":
        loaded = _load_backend("dlib")
    if isinstance(loaded, BackendUnavailable):
        raise BackendUnavailable(str(loaded))
    return loaded


@lru_cache(maxsize=None)
def _load_backend(name: str) -> Backend | BackendUnavailable:
    """Kept for the process, failures too: loading (or failing to download) costs far more than a detection."""
    try:
        return FanBackend() if name == "fan" else DlibBackend()
    except BackendUnavailable as exc:
        return exc


def _scale_face(face: Face, sx: float, sy: float) -> Face:
    """Map a face found on a shrunk copy back to the photo; pixel centres sit at index + 0.5."""
    s = np.array([sx, sy])
    box = (np.asarray(face.box).reshape(2, 2) + 0.5) * s - 0.5
    return Face(points=(face.points + 0.5) * s - 0.5, box=tuple(float(v) for v in box.ravel()), score=face.score)


def detect_faces(image: Image.Image, backend: str = "auto", max_side: int = MAX_DETECT_SIDE,
                 detect_side: int = DETECT_SIDE) -> Detection:
    """All faces in an RGB photo, largest first (ties keep detector order), in the photo's own pixels."""
    impl = get_backend(backend)
    rgb = image.convert("RGB") if image.mode != "RGB" else image
    scale = 1.0
    if max(rgb.size) > max_side:
        scale = max(rgb.size) / detect_side
        small = (max(1, round(rgb.width / scale)), max(1, round(rgb.height / scale)))
        rgb = rgb.resize(small, Image.Resampling.LANCZOS)
    faces = impl.detect(np.asarray(rgb))
    if scale != 1.0:
        faces = [_scale_face(f, image.width / rgb.width, image.height / rgb.height) for f in faces]
    faces.sort(key=lambda f: -f.area)
    return Detection(faces=faces, backend=impl.name, image_size=image.size, detect_scale=scale)
