"""Align-tab handler: uploads are read by ganlab's own loader, and messages never show server folders."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from skimage import data

from ganlab.errors import GanlabError
from ganlab.lab import Face
from ganlab.ui.align_tab import run_align


def test_a_16_bit_png_upload_is_read_as_the_cli_reads_it(tmp_path):
    grey16 = cv2.cvtColor(data.astronaut(), cv2.COLOR_RGB2GRAY).astype(np.uint16) * 257  # full 16-bit range
    path = tmp_path / "astronaut16.png"
    assert cv2.imwrite(str(path), grey16)
    preview, gallery, status, faces = run_align(str(path), "dlib", 256)
    assert "found with" in status and len(faces) >= 1 and isinstance(faces[0], Face)
    face = np.asarray(faces[0].image)
    assert face.shape == (256, 256, 3) and 40 < face.mean() < 215  # a face, not a washed-out white square


def test_an_unreadable_upload_is_named_without_its_folder(tmp_path):
    path = tmp_path / "broken.png"
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 40)
    with pytest.raises(GanlabError) as err:
        run_align(str(path), "dlib", 256)
    assert "broken.png" in str(err.value) and str(tmp_path) not in str(err.value)
