"""BigGAN-deep-128 at full size through its two downloaded files: invert an image in a few steps, then a
gallery of per-image zoom and shift edits (the real model has no learned walks: the gallery says so and
names `train-walks`)."""

from __future__ import annotations

import zipfile

import pytest
from PIL import Image

import ganlab
from ganlab.cli import main
from ganlab.errors import GanlabError
from tests.realscale.conftest import BIGGAN_128


def test_invert_then_a_per_image_gallery_through_the_cli(server, online, testdata_dir, tmp_path, capsys):
    picture = testdata_dir / "faces" / "raw" / "test_images__paul_rudd__1.jpg"
    assert main(["gallery", str(picture), "--model", BIGGAN_128, "--class", "golden retriever", "--steps", "2",
                 "--transforms", "zoom,slide_left", "--magnitudes", "zoom=1.3; slide_left=0.2", "--samples", "1",
                 "--per-image-steps", "2", "--out", str(tmp_path / "g"), "--device", "cpu"]) == 0
    said = capsys.readouterr()
    assert "downloading config.json" in said.err and "downloading pytorch_model.bin" in said.err
    assert "inverted as golden retriever" in said.out
    assert f"{BIGGAN_128} has no learned walk" in said.out and f"train-walks --model {BIGGAN_128}" in said.out
    assert Image.open(tmp_path / "g" / "grid.png").size[0] >= 2 * 128
    with zipfile.ZipFile(tmp_path / "g" / "augmentations.zip") as zf:
        labels = zf.read("labels.csv").decode().splitlines()
    assert len(labels) == 1 + 2 and all("per-image" in row for row in labels[1:])
    assert sorted(name for name, _ in server.faults.requests) == ["biggan-deep-128/config.json",
                                                                  "biggan-deep-128/pytorch_model.bin"]


def test_auto_class_on_a_thousand_classes_asks_for_the_class_instead_of_running_out_of_memory(server, warm):
    lab = ganlab.load(BIGGAN_128, device="cpu")
    assert len(lab.classes) == 1000 and lab.resolution == 128
    picture = lab.render(lab.sample(1, class_name="golden retriever")[0])
    with pytest.raises(GanlabError, match="draws 1000 classes .* Name the class"):
        lab.invert(picture, steps=1)
