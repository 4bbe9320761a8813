"""Backends: dlib offline, FAN unavailable without hanging, auto falls back, big photos shrink for detection."""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from skimage import data

from ganlab.align import BackendUnavailable, NoFaceFound, align_face, align_image, detect_faces, fan_status
from ganlab.align import landmarks
from ganlab.errors import GanlabError


@pytest.fixture
def fresh_status():
    """fan_status memoises per process; each test here decides the environment itself."""
    fan_status.cache_clear()
    yield
    fan_status.cache_clear()


@pytest.fixture
def empty_hub(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setattr(landmarks, "_hub_checkpoints", lambda: tmp_path)
    return tmp_path


def _inter_ocular(points: np.ndarray) -> float:
    return float(np.hypot(*(points[42:48].mean(0) - points[36:42].mean(0))))


def test_astronaut_two_faces_largest_first():
    found = detect_faces(Image.fromarray(data.astronaut()), backend="dlib")
    assert found.backend == "dlib"
    assert len(found.faces) == 2
    assert found.faces[0].area > found.faces[1].area
    assert found.faces[0].points.shape == (68, 2) and found.faces[0].points.dtype == np.float64
    assert found.faces[0].box == (175.0, 76.0, 265.0, 166.0)


def test_blank_image_raises_no_face_found():
    with pytest.raises(NoFaceFound, match="No face found"):
        align_image(Image.new("RGB", (400, 300), (128, 128, 128)), backend="dlib")


def test_unknown_backend_is_refused():
    with pytest.raises(GanlabError, match="unknown landmark backend"):
        detect_faces(Image.new("RGB", (64, 64)), backend="mtcnn")


def test_huge_photo_is_detected_on_a_small_copy(golden_dir: Path):
    """6000x4000 with the astronaut's face scaled 7.8x: landmarks come back in full-size pixels."""
    scale, offset = 4000 / 512, np.array([1500.0, 0.0])
    face_img = Image.fromarray(data.astronaut()).resize((4000, 4000), Image.Resampling.BICUBIC)
    photo = Image.new("RGB", (6000, 4000), (90, 90, 90))
    photo.paste(face_img, (1500, 0))
    golden = np.array(json.loads((golden_dir / "ffhq_align/astronaut/landmarks.json").read_text())["landmarks_68"])
    expected = (golden + 0.5) * scale - 0.5 + offset

    found = detect_faces(photo, backend="dlib")
    assert found.detect_scale == pytest.approx(6000 / landmarks.DETECT_SIDE)
    error = np.hypot(*(found.faces[0].points - expected).T).mean() / _inter_ocular(expected)
    assert error < 0.05

    # Cropped from the full-size photo, the face matches the official 512 px run up to landmark noise.
    aligned = align_face(photo, found.faces[0].points, output_size=256, transform_size=1024)
    record = json.loads((golden_dir / "ffhq_align/astronaut/align_out256_t1024.json").read_text())
    quad = (np.array(record["intermediates"]["quad_initial"]) + 0.5) * scale - 0.5 + offset
    assert np.abs(aligned.quad - quad).max() < 0.01 * aligned.steps.qsize_initial
    official = np.asarray(Image.open(golden_dir / "ffhq_align/astronaut/aligned_out256_t1024.png"), dtype=float)
    assert np.abs(np.asarray(aligned.image, dtype=float) - official).mean() < 5


def test_fan_probe_answers_quickly_with_a_reason(fresh_status):
    """The one real network check: here (no internet, empty hub cache) FAN is unavailable, said fast."""
    start = time.monotonic()
    status = fan_status()
    assert time.monotonic() - start < 15
    assert status.reason
    if not status.available:
        assert "2DFAN4" in status.reason or "s3fd" in status.reason or "face-alignment" in status.reason


def test_fan_unavailable_offline(fresh_status, empty_hub: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("GANLAB_OFFLINE", "1")
    status = fan_status()
    assert not status.available
    assert "offline" in status.reason and str(empty_hub) in status.reason
    with pytest.raises(BackendUnavailable, match="FAN landmarks are unavailable"):
        landmarks.FanBackend()


def test_fan_available_when_weights_are_cached(fresh_status, empty_hub: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("GANLAB_OFFLINE", "1")
    for url in landmarks._fan_weight_urls():
        (empty_hub / url.rsplit("/", 1)[1]).write_bytes(b"")
    status = fan_status()
    assert status.available and "cached" in status.reason
    assert landmarks.resolve_backend("auto") == "fan"


def test_auto_falls_back_to_dlib_and_says_so(fresh_status, empty_hub: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("GANLAB_OFFLINE", "1")
    found = detect_faces(Image.fromarray(data.astronaut()), backend="auto")
    assert found.backend == "dlib" and len(found.faces) == 2


class _StubFan:
    """Stands in for face_alignment.FaceAlignment (its weights cannot be fetched here)."""

    def __init__(self, found: bool):
        self.found = found

    def get_landmarks_from_image(self, rgb, return_bboxes=False):
        if not self.found:
            return None, None, None
        small = np.tile([[10.0, 20.0]], (68, 1))
        large = np.tile([[50.0, 60.0]], (68, 1))
        return [small, large], [None, None], [np.array([0, 0, 10, 10, 0.9]), np.array([0, 0, 40, 40, 0.8])]


def test_fan_results_follow_the_common_interface():
    backend = object.__new__(landmarks.FanBackend)
    backend._fa = _StubFan(found=True)
    faces = backend.detect(np.zeros((64, 64, 3), np.uint8))
    assert [f.box for f in faces] == [(0.0, 0.0, 10.0, 10.0), (0.0, 0.0, 40.0, 40.0)]
    assert faces[1].points.shape == (68, 2) and faces[1].score == pytest.approx(0.8)
    backend._fa = _StubFan(found=False)
    assert backend.detect(np.zeros((64, 64, 3), np.uint8)) == []


def test_auto_survives_a_fan_that_fails_to_load(fresh_status, empty_hub: Path, monkeypatch: pytest.MonkeyPatch):
    def broken() -> None:
        raise BackendUnavailable("FAN could not be loaded: download interrupted")

    monkeypatch.setattr(landmarks, "fan_status", lambda: landmarks.BackendStatus("fan", True, "pretend"))
    monkeypatch.setattr(landmarks, "FanBackend", broken)
    landmarks._load_backend.cache_clear()
    try:
        assert landmarks.get_backend("auto").name == "dlib"
        with pytest.raises(BackendUnavailable, match="download interrupted"):
            landmarks.get_backend("fan")
    finally:
        landmarks._load_backend.cache_clear()
