"""The folder run: labelled output, resumable, unreadable files listed, a full disk stops it cleanly."""

from __future__ import annotations

import csv
import errno
import json

import numpy as np
import pytest
import torch
from PIL import Image

from ganlab.augment import gallery
from ganlab.augment.walks import Walk, WalkSet, save_walks
from ganlab.data.toyobjects import render_objects
from ganlab.errors import GanlabError

FAST = dict(cls="disc", steps=2, starts=1, device="cpu")


@pytest.fixture()
def photos(tmp_path, monkeypatch):
    torch.set_num_threads(1)
    monkeypatch.setenv("GANLAB_OFFLINE", "1")          # LPIPS only if its weights are already cached
    folder = tmp_path / "photos"
    folder.mkdir()
    images, _ = render_objects(2, seed=40)
    for i, im in enumerate(images):
        Image.fromarray(im).save(folder / f"obj{i}.png")
    (folder / "broken.jpg").write_bytes(b"definitely not a jpeg")
    (folder / "notes.txt").write_text("not an image, not listed")
    return folder


@pytest.fixture()
def walks_file(tmp_path):
    rng = np.random.default_rng(2)
    walks = WalkSet("toyobjects-64", 128, {name: Walk(name, rng.normal(size=128).astype(np.float32), alpha, rng_)
                                           for name, alpha, rng_ in [("zoom", "log(magnitude)", (-0.7, 0.7)),
                                                                     ("slide_up", "magnitude", (-0.5, 0.5))]})
    return save_walks(walks, tmp_path / "walks.npz")


def _labels(out):
    with open(out / "labels.csv", newline="") as f:
        return list(csv.DictReader(f))


def test_folder_run_writes_labelled_images_lists_unreadable_files_and_resumes(photos, walks_file, tmp_path,
                                                                              capsys, monkeypatch):
    out = tmp_path / "out"
    code = gallery.run_augment(photos, "toyobjects-64", ["zoom", "slide_up"], 3, out, walks_path=walks_file, **FAST)
    printed = capsys.readouterr().out
    assert code == 0
    assert "skipped 1 unreadable file(s)" in printed and "broken.jpg" in printed
    rows = _labels(out)
    assert len(rows) == 6 and {r["source"] for r in rows} == {"obj0.png", "obj1.png"}
    assert {r["class"] for r in rows} == {"disc"} and {r["method"] for r in rows} == {"walk"}
    assert [(r["transform"], r["magnitude"]) for r in rows[:3]] == [("zoom", "0.7"), ("zoom", "1.4"),
                                                                    ("slide_up", "0.15")]
    assert all((out / r["file"]).is_file() for r in rows)
    assert (out / "obj0_png" / "latent.npz").is_file()

    def no_inversion(*args, **kwargs):
        raise AssertionError("a finished image was inverted again")

    monkeypatch.setattr(gallery, "invert", no_inversion)
    assert gallery.run_augment(photos, "toyobjects-64", ["zoom", "slide_up"], 3, out, walks_path=walks_file,
                               **FAST) == 0
    assert "2 of 3 images already done" in capsys.readouterr().out
    assert len(_labels(out)) == 6


def test_a_full_disk_stops_cleanly_and_keeps_what_was_written(photos, walks_file, tmp_path, capsys, monkeypatch):
    out = tmp_path / "out"
    real_write = gallery.write_png_atomically
    writes = []

    def write_until_full(path, image):
        if len(writes) == 3:
            raise OSError(errno.ENOSPC, "No space left on device")
        writes.append(path)
        real_write(path, image)

    monkeypatch.setattr(gallery, "write_png_atomically", write_until_full)
    code = gallery.run_augment(photos, "toyobjects-64", ["zoom"], 2, out, walks_path=walks_file, **FAST)
    assert code == 1 and "disk is full" in capsys.readouterr().out
    index = [json.loads(line) for line in (out / "index.jsonl").read_text().splitlines()]
    assert [e["source"] for e in index] == ["obj0.png"]
    assert [r["source"] for r in _labels(out)] == ["obj0.png", "obj0.png"]

    monkeypatch.setattr(gallery, "write_png_atomically", real_write)
    assert gallery.run_augment(photos, "toyobjects-64", ["zoom"], 2, out, walks_path=walks_file, **FAST) == 0
    assert "1 of 3 images already done" in capsys.readouterr().out
    assert [r["source"] for r in _labels(out)] == ["obj0.png"] * 2 + ["obj1.png"] * 2


def test_a_torn_index_line_is_ignored_and_the_next_entry_starts_a_new_line(tmp_path):
    (tmp_path / "index.jsonl").write_text(json.dumps({"source": "a.png", "rows": []}) + "\n{\"source\": \"b.p")
    assert list(gallery._read_index(tmp_path)) == ["a.png"]
    gallery._append_index(tmp_path, {"source": "c.png", "rows": []})
    assert list(gallery._read_index(tmp_path)) == ["a.png", "c.png"]


def test_empty_folders_unknown_classes_and_transforms_are_errors(tmp_path, photos, walks_file):
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(GanlabError, match="no images in"):
        gallery.run_augment(empty, "toyobjects-64", ["zoom"], 1, tmp_path / "o")
    with pytest.raises(GanlabError, match="unknown class 'hart'; did you mean 'heart'"):
        gallery.run_augment(photos, "toyobjects-64", ["zoom"], 1, tmp_path / "o", cls="hart", device="cpu")
    with pytest.raises(GanlabError, match="unknown transformation 'rotate'"):
        gallery.run_augment(photos, "toyobjects-64", ["rotate"], 1, tmp_path / "o")
    assert not (tmp_path / "o").exists()


def test_auto_class_starts_from_the_shipped_encoder_and_names_the_drawn_class(photos, walks_file, tmp_path,
                                                                              capsys, monkeypatch):
    """No class given: the bundled object encoder's guess (z and class) replaces the class search."""
    truth = {f"obj{i}.png": a.class_name for i, a in enumerate(render_objects(2, seed=40)[1])}
    starts = []
    real_invert = gallery.invert

    def recording_invert(*args, init=None, **kwargs):
        starts.append(init)
        return real_invert(*args, init=init, **kwargs)

    monkeypatch.setattr(gallery, "invert", recording_invert)
    out = tmp_path / "out"
    assert gallery.run_augment(photos, "toyobjects-64", ["zoom"], 1, out, walks_path=walks_file,
                               **{**FAST, "cls": "auto"}) == 0
    assert "no encoder" not in capsys.readouterr().out
    assert len(starts) == 2 and all(s is not None for s in starts)
    assert {r["source"]: r["class"] for r in _labels(out)} == truth

    starts.clear()
    assert gallery.run_augment(photos, "toyobjects-64", ["zoom"], 1, tmp_path / "plain", walks_path=walks_file,
                               use_encoder=False, **FAST) == 0
    assert starts == [None, None]
