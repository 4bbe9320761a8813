"""The text verbs through the CLI: text-direction, edit --text and generate, on the bundled models."""

from __future__ import annotations

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


def test_a_phrase_direction_written_by_the_cli_is_used_by_edit(lab, tmp_path, capsys):
    out = tmp_path / "bald.npz"
    assert main(["text-direction", "a bald face", "--model", "toyfaces-64", "--name", "bald look", "--samples", "200",
                 "--out", str(out), "--device", "cpu"]) == 0
    said = capsys.readouterr().out
    assert "'bald look': from 200 samples" in said and "toyclip-64 reads the pictures" in said
    (direction,) = load_directions(out, "toyfaces-64", lab.model.w_dim)
    assert direction.source == "text" and direction.metadata["phrase"] == "a bald face"
    latent = tmp_path / "seed4.npz"
    latent.write_bytes(latent_to_npz_bytes(lab.sample(4)[0]))
    assert main(["edit", str(latent), "--model", "toyfaces-64", "--directions", str(out), "--direction",
                 "bald look=3", "--out", str(tmp_path / "edited"), "--device", "cpu"]) == 0
    before, after = (np.asarray(Image.open(tmp_path / "edited" / "toyfaces-64-seed4" / f"{n}.png")) for n in ("original", "edited"))
    assert np.abs(before.astype(int) - after.astype(int)).mean() > 3


def test_edit_text_moves_each_latent_toward_the_phrase(lab, tmp_path, capsys):
    folder = tmp_path / "latents"
    folder.mkdir()
    for latent in lab.sample([1, 2]):
        (folder / f"{latent.name}.npz").write_bytes(latent_to_npz_bytes(latent))
    assert main(["edit", str(folder), "--model", "toyfaces-64", "--text", "a face with a beard", "--text-steps", "10",
                 "--out", str(tmp_path / "out"), "--device", "cpu"]) == 0
    said = capsys.readouterr().out
    assert said.count("toward 'a face with a beard'") == 2
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["toyfaces-64-seed1", "toyfaces-64-seed2"]
    assert main(["edit", str(folder), "--model", "toyfaces-64", "--device", "cpu"]) == 2
    assert "or --text PHRASE" in capsys.readouterr().err


def test_generate_writes_pictures_latents_and_a_grid(tmp_path, capsys):
    out = tmp_path / "beards"
    assert main(["generate", "a face with a beard", "--model", "toyfaces-64", "--n", "3", "--steps", "5",
                 "--out", str(out), "--device", "cpu"]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["00.npz", "00.png", "01.npz", "01.png", "02.npz", "02.png",
                                                     "grid.png"]
    assert "3 pictures of 'a face with a beard'" in capsys.readouterr().out
    assert main(["generate", "a bald face", "--model", "toyfaces-64", "--n", "100", "--out", str(out / "x")]) == 2
    assert "1 to 64" in capsys.readouterr().err
