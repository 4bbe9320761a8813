"""Faces found in a photo, as the front door hands them out: aligned, and able to go back where they came from."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image

from ganlab.align import align_image, draw_preview
from ganlab.align.images import ImageSource
from ganlab.session import PhotoOrigin


@dataclass(frozen=True)
class Face:
    """One FFHQ-aligned face (`image`, square) and the photo and crop it came from (`origin`)."""

    image: Image.Image
    origin: PhotoOrigin

    @property
    def photo(self) -> Image.Image:
        return self.origin.photo

    @property
    def quad(self) -> np.ndarray:
        """The crop square in the photo (TL, BL, BR, TR pixel coordinates)."""
        return self.origin.face.quad

    def paste_back(self, face: Image.Image | np.ndarray) -> Image.Image:
        """The whole photo with `face` (e.g. an edited render of this face, any size) warped into place."""
        return self.origin.paste_back(face)


@dataclass(frozen=True)
class Alignment:
    """The faces found in a photo, largest first, which landmark `backend` found them, and a `preview`
    of the photo with each face's box, landmarks and crop drawn in its own colour."""

    faces: list[Face]
    backend: str
    preview: Image.Image


def find_faces(photo: ImageSource, backend: str = "auto", size: int = 1024) -> Alignment:
    """`align_faces`, with what a person would want to see: the backend used and the annotated photo."""
    result = align_image(photo, backend=backend, output_size=size)
    faces = [Face(f.image, PhotoOrigin(result.image, f)) for f in result.faces]
    return Alignment(faces, result.detection.backend, draw_preview(result.image, result.detection.faces, result.faces))


def align_faces(photo: ImageSource, backend: str = "auto", size: int = 1024) -> list[Face]:
    """Every face in `photo` (a path, PIL image or array), aligned the FFHQ way, largest first.

    Raises `NoFaceFound` (a `GanlabError`) when there is none.
    """
    return find_faces(photo, backend, size).faces
