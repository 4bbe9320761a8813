"""Galleries render labelled augmentations through walks (or per-image edits), as a grid PNG and a zip."""

from __future__ import annotations

import csv
import io
import zipfile

import numpy as np
import pytest
import torch
from PIL import Image

from ganlab.augment.gallery import LABEL_FIELDS, augment, export_zip, folder_items, gallery_items, grid_png
from ganlab.augment.walks import Walk, WalkSet
from ganlab.imaging import to_uint8
from ganlab.models.registry import Registry, load_model


@pytest.fixture(scope="module")
def model():
    torch.set_num_threads(1)
    return load_model(Registry(), "toyobjects-64")


@pytest.fixture(scope="module")
def latent(model):
    return model.sample_z(1, seed=8), torch.eye(10)[[4]]


@pytest.fixture(scope="module")
def walks(model):
    rng = np.random.default_rng(1)
    vectors = {name: rng.normal(size=model.z_dim).astype(np.float32) for name in ("zoom", "slide_left")}
    return WalkSet(model.name, model.z_dim, {
        "zoom": Walk("zoom", vectors["zoom"], "log(magnitude)", (-0.69, 0.69)),
        "slide_left": Walk("slide_left", vectors["slide_left"], "magnitude", (-0.5, 0.5))})


def test_gallery_items_cover_transforms_magnitudes_and_samples():
    items = gallery_items(["zoom", "slide_left"], {"zoom": [0.8]}, samples=2, seed=10)
    assert items == [("zoom", 0.8, None), ("zoom", 0.8, 11),
                     ("slide_left", 0.15, None), ("slide_left", 0.15, 11),
                     ("slide_left", 0.3, None), ("slide_left", 0.3, 11)]
    cycled = folder_items(["zoom"], 5, seed=100)
    assert [seed for _, _, seed in cycled] == [None, None, 102, 103, 104]


def test_augmentations_follow_the_walks_and_identity_gives_the_reconstruction(model, latent, walks):
    z, c = latent
    result = augment(model, z, c, [("zoom", 1.0, None), ("zoom", 1.4, None), ("slide_left", 0.3, 7),
                                   ("zoom", 5.0, None)], walks)
    images = [a.image for a in result.augmentations]
    with torch.no_grad():
        exact = to_uint8(model.synthesize(z, c=c))[0]
        moved, _ = walks.shifted(z, "zoom", 1.4)
        zoomed = to_uint8(model.synthesize(moved, c=c))[0]
    def close(a: np.ndarray, b: np.ndarray) -> bool:              # batch size changes float rounding
        return np.abs(a.astype(int) - b).max() <= 1

    assert close(images[0], exact) and close(images[1], zoomed) and not close(images[1], exact)
    assert not close(images[2], exact)                            # jitter + walk change the picture
    assert [a.method for a in result.augmentations] == ["walk"] * 4
    assert result.augmentations[3].magnitude == 2.0 and any("clamped" in n for n in result.notes)


def test_transforms_without_a_walk_fall_back_to_per_image_optimisation(model, latent, walks):
    z, c = latent
    result = augment(model, z, c, [("brightness", 0.2, None), ("brightness", -0.2, 3)], walks, per_image_steps=2)
    assert [a.method for a in result.augmentations] == ["per-image", "per-image"]
    assert any("per-image" in n for n in result.notes)


def test_grid_png_captions_every_tile(model, latent, walks, tmp_path):
    z, c = latent
    augs = augment(model, z, c, gallery_items(["zoom", "slide_left"], samples=2), walks).augmentations
    picture = grid_png(augs, tmp_path / "grid.png", cols=2, tile=96)
    assert Image.open(tmp_path / "grid.png").size == (picture.shape[1], picture.shape[0])
    assert picture.shape[1] == 2 + 2 * (96 + 2) and picture.shape[0] == 2 + 4 * (96 + 14 + 2)
    caption = picture[2 + 96: 2 + 96 + 14, 2: 2 + 96]
    assert (caption < 128).any()                                   # text was drawn
    assert augs[0].label == "zoom x0.70" and augs[4].label == "slide_left +0.15"


def test_zip_holds_every_image_and_a_labels_csv(model, latent, walks, tmp_path):
    z, c = latent
    augs = augment(model, z, c, gallery_items(["zoom"], samples=2, seed=5), walks).augmentations
    path = export_zip(augs, tmp_path / "aug.zip", source="photo.png", class_name="ring")
    with zipfile.ZipFile(path) as archive:
        rows = list(csv.DictReader(io.StringIO(archive.read("labels.csv").decode())))
        assert sorted(archive.namelist()) == sorted([r["file"] for r in rows] + ["labels.csv"])
        first = np.asarray(Image.open(io.BytesIO(archive.read(rows[0]["file"]))))
    assert list(rows[0]) == LABEL_FIELDS and len(rows) == 4
    assert np.array_equal(first, augs[0].image)
    assert [(r["source"], r["class"], r["transform"], r["magnitude"], r["seed"]) for r in rows] == [
        ("photo.png", "ring", "zoom", "0.7", ""), ("photo.png", "ring", "zoom", "0.7", "6"),
        ("photo.png", "ring", "zoom", "1.4", ""), ("photo.png", "ring", "zoom", "1.4", "6")]


def test_magnitude_and_sample_counts_are_capped():
    from ganlab.augment.gallery import MAX_MAGNITUDES
    from ganlab.errors import GanlabError
    with pytest.raises(GanlabError, match="at most 16 magnitudes"):
        gallery_items(["zoom"], {"zoom": [1.0] * (MAX_MAGNITUDES + 1)})
    with pytest.raises(GanlabError, match="samples per magnitude"):
        gallery_items(["zoom"], samples=400)
    assert len(gallery_items(["zoom"], {"zoom": [1.0] * MAX_MAGNITUDES}, samples=1)) == MAX_MAGNITUDES
