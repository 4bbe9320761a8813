"""FFHQ face alignment: landmarks, the official crop recipe, paste-back, previews, batch alignment."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from PIL import Image

from ganlab.align.ffhq import AlignedFace, RecipeSteps, align_face, paste_back
from ganlab.align.images import ImageSource, center_crop_resize, load_image
from ganlab.align.landmarks import (
    BackendUnavailable,
    Detection,
    Face,
    NoFaceFound,
    detect_faces,
    fan_status,
    get_backend,
)
from ganlab.align.preview import draw_preview
from ganlab.errors import GanlabError

__all__ = [
    "AlignProgress", "AlignResult", "AlignedFace", "BackendUnavailable", "Detection", "Face", "NoFaceFound",
    "RecipeSteps", "align_face", "align_image", "align_paths", "center_crop_resize", "detect_faces",
    "draw_preview", "fan_status", "get_backend", "load_image", "paste_back",
]


@dataclass(frozen=True)
class AlignResult:
    """The normalised photo, what was detected in it, and one aligned face per detection (largest first)."""

    image: Image.Image
    detection: Detection
    faces: list[AlignedFace]


def align_image(source: ImageSource, backend: str = "auto", output_size: int = 1024,
                transform_size: int = 4096, enable_padding: bool = True, name: str | None = None) -> AlignResult:
    """Load, detect and align every face; raises NoFaceFound so the caller can fall back to center_crop_resize."""
    image = load_image(source, name)
    detection = detect_faces(image, backend)
    if not detection.faces:
        label = name or (str(source) if isinstance(source, (str, Path)) else "the image")
        raise NoFaceFound(f"No face found in {label} ({image.width}x{image.height}, {detection.backend} detector). "
                          "Use a photo with a clearly visible, roughly frontal face, or use it unaligned.")
    faces = [align_face(image, f.points, output_size, transform_size, enable_padding) for f in detection.faces]
    return AlignResult(image=image, detection=detection, faces=faces)


@dataclass(frozen=True)
class AlignProgress:
    """One input of a batch: the files written, or why there are none."""

    index: int
    total: int
    path: Path
    outputs: tuple[Path, ...] = ()
    error: str | None = None
    backend: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


def _unique_dir(out_dir: Path, stem: str, used: set[str]) -> Path:
    """`out_dir/<stem>`, suffixed when two inputs share a file name, so no run overwrites its own output."""
    candidate, n = stem, 1
    while candidate in used:
        n += 1
        candidate = f"{stem}_{n}"
    used.add(candidate)
    return out_dir / candidate


def align_paths(inputs: list[Path], out_dir: Path, size: int = 1024, backend: str = "auto", *,
                transform_size: int = 4096) -> Iterator[AlignProgress]:
    """Align each file to `out_dir/<stem>/face_<k>.png`, yielding progress; a bad file is reported, not fatal."""
    out_dir = Path(out_dir)
    used: set[str] = set()
    total = len(inputs)
    for index, path in enumerate(inputs):
        path = Path(path)
        try:
            result = align_image(path, backend=backend, output_size=size, transform_size=transform_size)
            folder = _unique_dir(out_dir, path.stem, used)
            folder.mkdir(parents=True, exist_ok=True)
            outputs = []
            for k, face in enumerate(result.faces):
                target = folder / f"face_{k}.png"
                face.image.save(target)
                outputs.append(target)
            yield AlignProgress(index, total, path, tuple(outputs), backend=result.detection.backend)
        except GanlabError as exc:
            yield AlignProgress(index, total, path, error=str(exc))
        except Exception as exc:  # one odd file must not end a batch of hundreds
            yield AlignProgress(index, total, path, error=f"{path}: unexpected {type(exc).__name__}: {exc}")
