"""User pictures become model-sized targets, with every change said, and bad files refused."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from ganlab.errors import GanlabError
from ganlab.invert.targets import prepare_target


def test_non_square_rgba_is_centre_cropped_and_the_note_says_so(tmp_path):
    Image.new("RGBA", (300, 200), (255, 0, 0, 128)).save(tmp_path / "wide.png")
    target = prepare_target(tmp_path / "wide.png", 64)
    assert target.img.shape == (1, 3, 64, 64)
    assert any("centre-cropped from 300x200" in n for n in target.notes)


def test_grayscale_16_bit_becomes_rgb(tmp_path):
    Image.fromarray((np.arange(64 * 64).reshape(64, 64) * 16).astype(np.uint16)).save(tmp_path / "g16.png")
    target = prepare_target(tmp_path / "g16.png", 64)
    assert target.img.shape == (1, 3, 64, 64) and target.notes == []
    assert torch_range_ok(target.img)


def torch_range_ok(img) -> bool:
    return bool(img.min() >= -1 and img.max() <= 1 and img.std() > 0)


def test_tiny_images_and_non_images_are_refused(tmp_path):
    Image.new("RGB", (8, 8)).save(tmp_path / "tiny.png")
    with pytest.raises(GanlabError, match="8x8"):
        prepare_target(tmp_path / "tiny.png", 64)
    (tmp_path / "x.png").write_text("not a picture")
    with pytest.raises(GanlabError):
        prepare_target(tmp_path / "x.png", 64)
