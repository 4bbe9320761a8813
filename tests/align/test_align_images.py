"""load_image: EXIF rotation, odd modes to RGB uint8, clear errors; center_crop_resize fallback."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from skimage import data

from ganlab.align import center_crop_resize, detect_faces, load_image
from ganlab.errors import GanlabError


def _png(img: Image.Image) -> bytes:
    buf = io.BytesIO()
    img.save(buf, "PNG")
    return buf.getvalue()


def test_exif_rotation_is_applied_before_detection(tmp_path: Path):
    upright = Image.fromarray(data.astronaut())
    stored = upright.transpose(Image.Transpose.ROTATE_90)  # as a phone held sideways stores it
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 clockwise to display"
    path = tmp_path / "sideways.jpg"
    stored.save(path, quality=95, exif=exif)

    loaded = load_image(path)
    assert loaded.size == upright.size and loaded.mode == "RGB"
    assert np.abs(np.asarray(loaded, dtype=float) - np.asarray(upright, dtype=float)).mean() < 4
    box = detect_faces(loaded, backend="dlib").faces[0].box
    assert np.abs(np.subtract(box, (175, 76, 265, 166))).max() <= 8


def test_grayscale_becomes_three_equal_channels():
    gray = Image.fromarray(data.camera())
    rgb = load_image(_png(gray))
    arr = np.asarray(rgb)
    assert rgb.mode == "RGB" and arr.dtype == np.uint8 and arr.shape == (*data.camera().shape, 3)
    assert (arr[..., 0] == data.camera()).all() and (arr[..., 0] == arr[..., 2]).all()


def test_rgba_transparency_becomes_white():
    rgba = np.zeros((8, 8, 4), np.uint8)
    rgba[:4] = (200, 10, 10, 255)
    arr = np.asarray(load_image(Image.fromarray(rgba, "RGBA")))
    assert (arr[:4] == (200, 10, 10)).all() and (arr[4:] == 255).all()


def test_sixteen_bit_png_is_rescaled_not_clipped():
    levels = np.array([[0, 257, 32896, 65535]], np.uint16)
    img16 = Image.fromarray(levels)
    assert img16.mode.startswith("I;16")
    arr = np.asarray(load_image(_png(img16)))
    assert arr[0, :, 0].tolist() == [0, 1, 128, 255]


def test_sixteen_bit_and_float_arrays():
    assert np.asarray(load_image(np.full((2, 2, 3), 65535, np.uint16))).max() == 255
    assert np.asarray(load_image(np.full((2, 2), 0.5, np.float32)))[0, 0].tolist() == [128, 128, 128]


def test_text_file_is_refused_by_name(tmp_path: Path):
    path = tmp_path / "notes.txt"
    path.write_text("not a photo")
    with pytest.raises(GanlabError, match="notes.txt: not an image"):
        load_image(path)


def test_missing_and_truncated_files(tmp_path: Path):
    with pytest.raises(GanlabError, match="file not found"):
        load_image(tmp_path / "nope.png")
    broken = tmp_path / "half.png"
    broken.write_bytes(_png(Image.fromarray(data.astronaut()))[:5000])
    with pytest.raises(GanlabError, match="half.png"):
        load_image(broken)


def test_center_crop_resize_keeps_the_middle():
    img = Image.new("RGB", (300, 100), (0, 0, 255))
    img.paste((255, 0, 0), (100, 0, 200, 100))
    out = center_crop_resize(img, 64)
    assert out.size == (64, 64)
    assert (np.asarray(out)[:, 4:-4] == (255, 0, 0)).all()


def test_an_image_over_the_pixel_cap_is_refused_from_its_header():
    buf = io.BytesIO()
    Image.new("1", (12000, 12000)).save(buf, format="PNG")  # 144 megapixels, a small file
    assert len(buf.getvalue()) < 1 << 20
    with pytest.raises(GanlabError, match="144 megapixels"):
        load_image(buf.getvalue(), name="huge.png")
