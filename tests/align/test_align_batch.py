"""align_paths reports every file and keeps going; draw_preview marks faces and quads."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image
from skimage import data

from ganlab.align import align_image, align_paths, draw_preview
from ganlab.align.preview import COLOURS


def test_batch_writes_faces_and_reports_bad_files(tmp_path: Path):
    good = tmp_path / "in" / "astronaut.png"
    good.parent.mkdir()
    Image.fromarray(data.astronaut()).save(good)
    blank = tmp_path / "in" / "blank.png"
    Image.new("RGB", (200, 200), (40, 40, 40)).save(blank)
    text = tmp_path / "in" / "readme.txt"
    text.write_text("hello")
    out = tmp_path / "out"

    events = list(align_paths([good, blank, text, good], out, size=128, backend="dlib", transform_size=512))

    assert [(e.index, e.total) for e in events] == [(0, 4), (1, 4), (2, 4), (3, 4)]
    first = events[0]
    assert first.ok and first.backend == "dlib"
    assert [p.relative_to(out).as_posix() for p in first.outputs] == ["astronaut/face_0.png", "astronaut/face_1.png"]
    assert Image.open(first.outputs[0]).size == (128, 128)
    assert not events[1].ok and "No face found" in events[1].error and "blank.png" in events[1].error
    assert not events[2].ok and "readme.txt" in events[2].error and "not an image" in events[2].error
    assert events[3].ok and events[3].outputs[0].parent.name == "astronaut_2"


def test_preview_draws_landmarks_and_quad():
    photo = Image.fromarray(data.astronaut())
    result = align_image(photo, backend="dlib", output_size=64, transform_size=256)
    preview = draw_preview(result.image, result.detection.faces, result.faces)
    assert preview.size == photo.size and preview.mode == "RGB"
    arr = np.asarray(preview)
    x, y = np.round(result.detection.faces[0].points[30]).astype(int)
    assert arr[y, x].tolist() == list(COLOURS[0])
    qx, qy = np.round(result.faces[0].quad[[0, 3]].mean(0)).astype(int)
    assert arr[qy, qx].tolist() == list(COLOURS[0])
    assert np.asarray(photo).tolist() != arr.tolist()


def test_preview_of_a_large_photo_is_shrunk():
    big = Image.new("RGB", (3000, 2000), (10, 10, 10))
    assert draw_preview(big, max_side=1000).size == (1000, 667)
