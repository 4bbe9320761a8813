"""The Augment tab's folder run (a zip of images): the batch pipeline with the tab's model, progress per
image, a zip of the results; hostile zips are refused before anything is unpacked."""

from __future__ import annotations

import io
import tempfile
import zipfile

import pytest

from ganlab.batch.archive import unpack_images
from ganlab.errors import GanlabError
from ganlab.ui.augment_tab import augment_folder
from ganlab.ui.context import AppContext


@pytest.fixture
def ctx(monkeypatch, tmp_path):
    monkeypatch.setenv("GANLAB_OFFLINE", "1")
    monkeypatch.setenv("GANLAB_CACHE", str(tmp_path / "cache"))
    return AppContext()


def _zip(path, members: dict[str, bytes]):
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return path


def _png(lab, seed: int) -> bytes:
    buffer = io.BytesIO()
    lab.render(lab.sample(seed, class_name="star")[0]).save(buffer, format="PNG")
    return buffer.getvalue()


def test_a_zip_of_objects_is_augmented_with_progress_and_a_zip_comes_back(ctx, tmp_path, monkeypatch):
    monkeypatch.setenv("GANLAB_PUBLIC", "1")
    lab = ctx.lab("visitor", "toyobjects-64")
    archive = _zip(tmp_path / "mine.zip", {"a/star0.png": _png(lab, 0), "star1.png": _png(lab, 1),
                                           "notes.txt": b"ignored", "../../evil.png": b"not an image"})
    out = list(augment_folder(ctx, "visitor", str(archive), "toyobjects-64", "star", 10, True, ["zoom"],
                              "zoom=1.3"))
    statuses = [status for status, _ in out]
    assert any("1 / 3" in s for s in statuses) and "Done" in statuses[-1] and "2 of 3 images" not in statuses[-1]
    assert "evil.png" in statuses[-1] and "not an image" in statuses[-1]
    assert tempfile.gettempdir() not in statuses[-1] and str(tmp_path) not in statuses[-1]
    with zipfile.ZipFile(out[-1][1]) as zf:
        names = zf.namelist()
    assert "labels.csv" in names and "manifest.parquet" in names
    assert sorted(n for n in names if n.endswith("zoom_+1.3.png")) == ["000_star0.png/zoom_+1.3.png",
                                                                       "001_star1.png/zoom_+1.3.png"]
    assert not (tmp_path.parent / "evil.png").exists()


@pytest.mark.parametrize("members,refusal", [
    ({f"{i}.png": b"x" for i in range(40)}, "at most 32"),
    ({"readme.txt": b"hello"}, "no images"),
])
def test_hostile_or_useless_zips_are_refused_before_unpacking(tmp_path, members, refusal):
    with pytest.raises(GanlabError, match=refusal):
        unpack_images(_zip(tmp_path / "z.zip", members), tmp_path / "dest")
    assert not (tmp_path / "dest").exists()


def test_a_zip_bomb_is_refused_by_its_declared_size(tmp_path):
    archive = tmp_path / "bomb.zip"
    with zipfile.ZipFile(archive, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("huge.png", b"\0" * (64 * 2 ** 20))  # 64 MB of zeros, a few KB packed
    with pytest.raises(GanlabError, match="MB unpacked"):
        unpack_images(archive, tmp_path / "dest", max_bytes=16 * 2 ** 20)
    assert not (tmp_path / "dest").exists()


def test_a_file_that_is_not_a_zip_is_named_as_such(tmp_path):
    (tmp_path / "fake.zip").write_bytes(b"PK not really")
    with pytest.raises(GanlabError, match="not a readable zip"):
        unpack_images(tmp_path / "fake.zip", tmp_path / "dest")
