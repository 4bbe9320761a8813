"""Each tab's flow through the CLI: align -> project -> edit -> interpolate, learn-direction, augment."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

import ganlab
from ganlab.cli import main
from ganlab.edit.directions import load_directions
from ganlab.session import latent_to_npz_bytes


@pytest.fixture(autouse=True)
def offline(monkeypatch):
    monkeypatch.setenv("GANLAB_OFFLINE", "1")


@pytest.fixture(scope="module")
def lab():
    return ganlab.load("toyfaces-64", device="cpu")


def _write_samples(lab, folder, seeds):
    folder.mkdir(parents=True, exist_ok=True)
    for latent in lab.sample(seeds):
        (folder / f"{latent.name}.npz").write_bytes(latent_to_npz_bytes(latent))
    return folder


def test_align_project_edit_interpolate_through_the_cli(testdata_dir, tmp_path, capsys):
    photo = testdata_dir / "faces" / "raw" / "test_images__kate_siegel__1.jpg"
    assert main(["align", str(photo), "--out", str(tmp_path / "aligned"), "--size", "256"]) == 0
    face = tmp_path / "aligned" / photo.stem / "face_0.png"
    assert main(["project", "--model", "toyfaces-64", "--target", str(face), "--method", "projector",
                 "--steps", "4", "--out", str(tmp_path / "proj"), "--device", "cpu"]) == 0
    assert (tmp_path / "proj" / "face_0" / "latent.npz").is_file()
    assert main(["edit", str(tmp_path / "proj"), "--model", "toyfaces-64", "--direction", "smile=2",
                 "--direction", "pc1=-1", "--layers", "middle", "--out", str(tmp_path / "edit")]) == 0
    edited = tmp_path / "edit" / "face_0"
    before, after = (np.asarray(Image.open(edited / f)) for f in ("original.png", "edited.png"))
    assert before.shape == after.shape == (64, 64, 3) and not np.array_equal(before, after)
    _write_samples(ganlab.load("toyfaces-64", device="cpu"), tmp_path / "more", [7])
    assert main(["interpolate", str(edited / "latent.npz"), str(tmp_path / "more"), "--model", "toyfaces-64",
                 "--frames", "5", "--size", "128", "--out", str(tmp_path / "frames")]) == 0
    frames = sorted((tmp_path / "frames").glob("frame_*.png"))
    assert len(frames) == 5 and Image.open(frames[0]).size == (128, 128)
    assert main(["interpolate", str(edited / "latent.npz"), str(tmp_path / "more"), "--model", "toyfaces-64",
                 "--frames", "4", "--out", str(tmp_path / "m.mp4")]) == 0
    assert (tmp_path / "m.mp4").stat().st_size > 0
    assert "4 frames, 64 px" in capsys.readouterr().out


def test_edit_lists_directions_and_refuses_unknown_ones(lab, tmp_path, capsys):
    assert main(["edit", "--model", "toyfaces-64", "--list"]) == 0
    listing = capsys.readouterr().out
    assert "smile" in listing and "svm" in listing and "sefa0" in listing
    folder = _write_samples(lab, tmp_path / "l", [1])
    assert main(["edit", str(folder), "--model", "toyfaces-64", "--direction", "grin=1",
                 "--out", str(tmp_path / "o")]) == 2
    assert "no direction named grin" in capsys.readouterr().err
    assert main(["edit", str(folder), "--model", "toyfaces-64", "--direction", "smile",
                 "--out", str(tmp_path / "o")]) == 2
    assert "NAME=AMOUNT" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


def test_edit_refuses_latents_of_another_model(tmp_path, capsys):
    objects = ganlab.load("toyobjects-64", device="cpu")
    latent = objects.sample(0, class_name=1)[0]
    (tmp_path / "obj.npz").write_bytes(latent_to_npz_bytes(latent))
    assert main(["edit", str(tmp_path / "obj.npz"), "--model", "toyfaces-64", "--direction", "smile=1",
                 "--out", str(tmp_path / "o")]) == 2
    assert "made for model 'toyobjects-64'" in capsys.readouterr().err


def test_learn_direction_writes_a_file_that_edit_uses(lab, tmp_path, capsys):
    pos = _write_samples(lab, tmp_path / "pos", range(0, 12))
    neg = _write_samples(lab, tmp_path / "neg", range(100, 112))
    out = tmp_path / "mine.npz"
    assert main(["learn-direction", "--model", "toyfaces-64", "--with", str(pos), "--without", str(neg),
                 "--name", "mine", "--keep", "smile", "--out", str(out)]) == 0
    said = capsys.readouterr().out
    assert "learned 'mine'" in said and "kept smile unchanged" in said
    (direction,) = load_directions(out, "toyfaces-64", lab.model.w_dim)
    assert direction.metadata["conditioned_on"] == ["smile"]
    assert main(["edit", str(pos / "toyfaces-64-seed0.npz"), "--model", "toyfaces-64", "--directions", str(out),
                 "--direction", "mine=3", "--out", str(tmp_path / "e")]) == 0
    meta = np.load(tmp_path / "e" / "toyfaces-64-seed0" / "latent.npz")["meta"]
    assert "mine +3" in json.loads(str(meta))["source"]


def test_learn_direction_without_out_adds_it_to_the_model_folder(tmp_path, capsys):
    lab = ganlab.load("toyfaces-64", device="cpu")
    lab.save(tmp_path / "model")
    pos = _write_samples(ganlab.load(tmp_path / "model", device="cpu"), tmp_path / "pos", range(0, 6))
    neg = _write_samples(ganlab.load(tmp_path / "model", device="cpu"), tmp_path / "neg", range(50, 56))
    assert main(["learn-direction", "--model", str(tmp_path / "model"), "--with", str(pos), "--without", str(neg),
                 "--name", "folder-made"]) == 0
    assert "only 6 positive examples" in capsys.readouterr().out
    again = ganlab.load(tmp_path / "model", device="cpu")
    assert list(again.directions)[:2] == ["folder-made", "smile"]


def test_session_flow_samples_latents_that_interpolate_reads(tmp_path, capsys):
    """The Session tab's "add a generator sample", then a video of the samples."""
    assert main(["sample", "--model", "toyfaces-64", "--seeds", "3-4", "--latents", "--out", str(tmp_path / "s"),
                 "--device", "cpu"]) == 0
    assert sorted(p.name for p in (tmp_path / "s").iterdir()) == ["seed0003.npz", "seed0003.png", "seed0004.npz",
                                                                 "seed0004.png"]
    lab = ganlab.load("toyfaces-64", device="cpu")
    again = np.asarray(lab.render(lab.sample(3)[0]))
    assert np.array_equal(np.asarray(Image.open(tmp_path / "s" / "seed0003.png")), again)
    assert main(["interpolate", str(tmp_path / "s"), "--model", "toyfaces-64", "--frames", "3",
                 "--out", str(tmp_path / "v.gif")]) == 0
    assert "3 frames" in capsys.readouterr().out


def test_augment_flow_inverts_one_image_and_writes_its_gallery(tmp_path, capsys):
    """The Augment tab: invert an image into BigGAN, then a labelled gallery at chosen magnitudes."""
    import zipfile

    objects = ganlab.load("toyobjects-64", device="cpu")
    picture = tmp_path / "star.png"
    objects.render(objects.sample(5, class_name="star")[0]).save(picture)
    assert main(["gallery", str(picture), "--model", "toyobjects-64", "--transforms", "zoom,slide_left",
                 "--magnitudes", "zoom=0.8,1.25", "--samples", "2", "--steps", "10", "--out", str(tmp_path / "g"),
                 "--device", "cpu"]) == 0
    out = tmp_path / "g"
    assert sorted(p.name for p in out.iterdir()) == ["augmentations.zip", "grid.png", "latent.npz"]
    with zipfile.ZipFile(out / "augmentations.zip") as zf:
        labels = zf.read("labels.csv").decode().splitlines()
    assert len(labels) == 1 + 2 * 2 + 2 * 2  # zoom at the two magnitudes asked for, slide_left at its own two
    assert "inverted as" in capsys.readouterr().out
    assert main(["gallery", str(picture), "--model", "toyobjects-64", "--magnitudes", "spin=1",
                 "--out", str(tmp_path / "bad")]) == 2
    assert "unknown transformation 'spin'" in capsys.readouterr().err and not (tmp_path / "bad").exists()


def test_learn_direction_from_two_folders_of_photos(lab, tmp_path, capsys):
    for group, amount, seeds in (("smiling", 3.0, range(30, 36)), ("frowning", -3.0, range(40, 46))):
        (tmp_path / group).mkdir()
        for latent in lab.sample(seeds):
            lab.render(lab.edit(latent, {"smile": amount})).save(tmp_path / group / f"{latent.name}.png")
    out = tmp_path / "smile.npz"
    assert main(["learn-direction", "--model", "toyfaces-64", "--with", str(tmp_path / "smiling"), "--without",
                 str(tmp_path / "frowning"), "--invert-method", "fast", "--name", "photo smile", "--out", str(out),
                 "--device", "cpu"]) == 0
    (direction,) = load_directions(out, "toyfaces-64", lab.model.w_dim)
    assert direction.name == "photo smile" and direction.accuracy >= 0.75
    assert "learned 'photo smile'" in capsys.readouterr().out
