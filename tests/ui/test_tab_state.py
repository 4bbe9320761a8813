"""Tab handlers keep the page's state straight: what the visitor chose stays chosen, every stored latent is
listed with a picture, the face sent from Align is the one projected, models say when they cannot load."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from ganlab.session import latent_to_npz_bytes, projected_w_bytes
from ganlab.ui import augment_tab, interpolate_tab, project_tab, session_tab
from ganlab.ui.align_tab import run_align
from ganlab.ui.context import AppContext


@pytest.fixture()
def ctx(monkeypatch):
    monkeypatch.setenv("GANLAB_OFFLINE", "1")
    ctx = AppContext()
    for seed in (1, 2, 3):
        session_tab.add_sample(ctx, "s", "toyfaces-64", seed, "")
    return ctx


def test_interpolate_keeps_the_visitors_choice_and_drops_names_no_longer_stored(ctx):
    names = ctx.latents("s").names()
    assert interpolate_tab.preselect(ctx, "s", []) == names[-2:]          # first visit: the two latest
    interpolate_tab.make_video(ctx, "s", [names[2], names[0]], 2, 12, "linear", False)
    assert interpolate_tab.preselect(ctx, "s", []) == [names[2], names[0]]  # what the last video used
    assert interpolate_tab.preselect(ctx, "s", [names[1], names[0]]) == [names[1], names[0]]  # what is shown
    ctx.latents("s").delete(names[0])
    assert interpolate_tab.preselect(ctx, "s", [names[1], names[0]]) == [names[1]]


def test_every_stored_latent_is_in_the_gallery_with_a_thumbnail_and_its_whole_name(ctx, tmp_path):
    model = ctx.model("s", "toyfaces-64")
    item = ctx.latents("s").items()[0]
    official = tmp_path / "projected_w.npz"
    official.write_bytes(projected_w_bytes(item, model))  # the official file has no thumbnail
    long_name = tmp_path / ("a-rather-long-latent-name-that-a-caption-could-cut" + ".npz")
    long_name.write_bytes(latent_to_npz_bytes(item))
    session_tab.upload(ctx, "s", str(official), "toyfaces-64")
    session_tab.upload(ctx, "s", str(long_name), "toyfaces-64")
    gallery, chosen, details = session_tab.listing(ctx, "s")
    names = ctx.latents("s").names()
    assert [caption for _, caption in gallery] == names and len(names) == 5
    assert all(isinstance(picture, np.ndarray) and picture.shape == (64, 64, 3) and picture.std() > 0
               for picture, _ in gallery)
    assert chosen == names[-1] and names[-1] in details
    _, kept, details = session_tab.listing(ctx, "s", names[1])
    assert kept == names[1] and f"**{names[1]}**" in details


def test_the_face_sent_from_align_is_projected_and_remembers_its_photo(ctx, testdata_dir):
    photo = testdata_dir / "faces" / "raw" / "test_images__kate_siegel__1.jpg"
    _, gallery, status, faces = run_align(str(photo), "dlib", 256)
    assert "1 face found" in status and gallery[0][1] == "face 0 (green)"
    visit = ctx.visit("s")
    visit.faces, visit.sent = faces, faces[0]
    request = SimpleNamespace(session_hash="s")
    labels = "Encoder only (instant)", next(iter(project_tab.SPACES))
    out = list(project_tab.run_projection(ctx, None, "toyfaces-64", *labels, 10, "kate", request))
    assert "Done" in out[-1][2] and "paste edits back" in out[-1][2]
    stored = ctx.latents("s").get("kate")
    assert stored.origin is not None and stored.origin.photo.size == faces[0].photo.size

    visit.sent = None  # the visitor dropped their own image on the target instead
    out = list(project_tab.run_projection(ctx, str(photo), "toyfaces-64", *labels, 10, "own", request))
    assert ctx.latents("s").get("own").origin is None and "paste edits back" not in out[-1][2]


def test_a_new_run_first_clears_the_last_result_and_a_one_step_run_shows_no_chart(ctx):
    request = SimpleNamespace(session_hash="s")
    labels = "Encoder only (instant)", next(iter(project_tab.SPACES))
    image = np.full((64, 64, 3), 120, np.uint8)
    from PIL import Image

    out = list(project_tab.run_projection(ctx, Image.fromarray(image), "toyfaces-64", *labels, 10, "p", request))
    assert out[0][2].startswith("**Starting**") and "Done" not in out[0][2]
    assert out[-1][1].visible is False  # a single loss value is said in the status, not drawn as a dot


def test_model_lists_say_which_models_cannot_load_here(ctx):
    choices = dict((mid, label) for label, mid in ctx.model_choices())
    assert choices["toyfaces-64"] == "toyfaces-64"
    assert "not available" in choices["stylegan2-ffhq-1024"]  # offline, nothing in the cache
    assert {mid for _, mid in ctx.model_choices("biggan")} >= {"toyobjects-64", "biggan-deep-256"}
    assert "toyfaces-64" not in {mid for _, mid in ctx.model_choices("biggan")}


def test_biggan_classes_are_listed_for_search_and_a_missing_model_offers_auto(ctx):
    classes = augment_tab.class_choices(ctx, "s", "toyobjects-64")
    assert classes[0] == "auto" and len(classes) == 1 + ctx.lab("s", "toyobjects-64").model.num_classes
    assert augment_tab.class_choices(ctx, "s", "biggan-deep-256") == ["auto"]


def test_the_project_tab_offers_exactly_the_library_s_methods_spaces_and_settings():
    from ganlab.invert.methods import METHODS, SPACES
    from ganlab.invert.projector import SETTINGS

    assert sorted(set(project_tab.SPACES.values())) == sorted(SPACES)
    assert {method for method, _ in project_tab.METHODS.values()} == set(METHODS)
    assert {settings for _, settings in project_tab.METHODS.values()} <= set(SETTINGS)
