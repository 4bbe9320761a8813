"""Paste-back inverts the recipe: geometry to a fraction of a pixel, untouched pixels outside the quad."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image
from skimage import data

from ganlab.align import align_face, paste_back


def _astronaut(golden_dir: Path) -> tuple[Image.Image, np.ndarray]:
    meta = json.loads((golden_dir / "ffhq_align/astronaut/landmarks.json").read_text())
    return Image.fromarray(data.astronaut()), np.array(meta["landmarks_68"])


def _quad_mask(face, shape: tuple[int, int], grow: int) -> np.ndarray:
    """Pixels within `grow` px of the crop square in the source photo."""
    mask = np.zeros(shape, np.uint8)
    cv2.fillConvexPoly(mask, np.round(face.quad).astype(np.int32), 1)
    if grow > 0:
        mask = cv2.dilate(mask, np.ones((2 * grow + 1,) * 2, np.uint8))
    return mask.astype(bool)


def _psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(float) - b.astype(float)) ** 2)
    return float(10 * np.log10(255.0**2 / max(mse, 1e-12)))


def test_square_to_source_matches_pil_quad_sampling(golden_dir: Path):
    """Resampling the photo through the matrix gives PIL's own output (no supersampling: T == S)."""
    photo, lm = _astronaut(golden_dir)
    face = align_face(photo, lm, output_size=256, transform_size=256)
    ours = cv2.warpPerspective(np.asarray(photo), face.square_to_source(), (256, 256),
                               flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP)
    diff = np.abs(ours.astype(int) - np.asarray(face.image, dtype=int))
    assert diff.max() <= 1 and diff.mean() < 0.6


def test_unedited_paste_back_is_nearly_invisible(golden_dir: Path):
    photo, lm = _astronaut(golden_dir)
    face = align_face(photo, lm, output_size=1024, transform_size=1024)
    out = np.asarray(paste_back(photo, face.image, face))
    src = np.asarray(photo)
    inside = _quad_mask(face, src.shape[:2], grow=0)
    assert _psnr(out[inside], src[inside]) > 40
    far = ~_quad_mask(face, src.shape[:2], grow=3)
    np.testing.assert_array_equal(out[far], src[far])


def test_paste_back_through_shrink_and_crop(golden_dir: Path, testdata_dir: Path):
    """angelina at 256 px takes the shrink branch: blurrier, but no shift (phase correlation)."""
    photo_path = testdata_dir / "faces/raw/test_images__angelina_jolie__1.jpg"
    if not photo_path.is_file():
        pytest.skip(f"{photo_path} is absent")
    meta = json.loads((golden_dir / "ffhq_align/angelina_jolie/landmarks.json").read_text())
    photo = Image.open(photo_path).convert("RGB")
    face = align_face(photo, np.array(meta["landmarks_68"]), output_size=256, transform_size=1024)
    assert face.steps.shrink_applied and face.steps.crop_applied
    src = np.asarray(photo)
    out = np.asarray(paste_back(photo, face.image, face))
    x0, y0 = np.floor(face.quad.min(0)).astype(int) + 150
    x1, y1 = np.ceil(face.quad.max(0)).astype(int) - 150
    a, b = (cv2.cvtColor(np.ascontiguousarray(im[y0:y1, x0:x1]), cv2.COLOR_RGB2GRAY).astype(np.float64)
            for im in (src, out))
    (dx, dy), _ = cv2.phaseCorrelate(a, b)
    assert np.hypot(dx, dy) < 0.25
    assert _psnr(a, b) > 28


def test_edit_at_another_resolution_and_custom_mask(golden_dir: Path):
    photo, lm = _astronaut(golden_dir)
    face = align_face(photo, lm, output_size=1024, transform_size=1024)
    edited = np.zeros((256, 256, 3), np.float32)  # a generator's output: float in 0..1
    edited[..., 0] = 1.0
    mask = np.zeros((256, 256), np.float32)
    mask[96:160, 96:160] = 1.0
    out = np.asarray(paste_back(photo, edited, face, mask=mask))
    centre = np.round(face.square_to_source(256) @ [127.5, 127.5, 1]).astype(int)[:2]
    assert out[centre[1], centre[0]].tolist() == [255, 0, 0]
    corner = np.round(face.square_to_source(256) @ [20, 20, 1]).astype(int)[:2]
    assert out[corner[1], corner[0]].tolist() == np.asarray(photo)[corner[1], corner[0]].tolist()
