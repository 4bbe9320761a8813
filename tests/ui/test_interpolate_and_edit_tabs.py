"""Interpolate and Edit handlers over the Lab, without a browser."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from ganlab.errors import GanlabError
from ganlab.ui import edit_tab, interpolate_tab
from ganlab.ui.context import AppContext


@pytest.fixture()
def ctx():
    ctx = AppContext()
    lab = ctx.lab("s1", "toyfaces-64")
    for latent in lab.sample([1, 2]):
        ctx.sessions.get("s1").add(latent, lab.model)
    return ctx


def test_the_video_is_made_at_the_chosen_size_and_written_three_ways(ctx):
    names = ctx.sessions.get("s1").names()
    seen = []
    mp4, strip, files = interpolate_tab.make_video(ctx, "s1", names, 6, 12, "linear", False, size=256,
                                                   progress=lambda f, desc: seen.append(desc))
    assert [Path(f).suffix for f in files] == [".mp4", ".gif", ".png"] and mp4 == files[0]
    assert all(Path(f).stat().st_size > 0 for f in files)
    assert strip.size == (6 * 256, 256) and seen[-1] == "rendering frame 6 of 6"
    _, small, _ = interpolate_tab.make_video(ctx, "s1", names, 4, 12, "linear", False)
    assert small.size == (4 * 64, 64)


def test_a_video_needs_two_latents_and_a_sane_size(ctx):
    name = ctx.sessions.get("s1").names()[0]
    with pytest.raises(GanlabError, match="at least two"):
        interpolate_tab.make_video(ctx, "s1", [name], 6, 12, "linear", False)
    with pytest.raises(GanlabError, match="16 to 1024"):
        interpolate_tab.make_video(ctx, "s1", ctx.sessions.get("s1").names(), 4, 12, "linear", False, size=4096)


def test_one_lab_per_loaded_model_keeps_computed_directions(ctx):
    lab = ctx.lab("s1", "toyfaces-64")
    assert ctx.lab("s2", "toyfaces-64") is lab
    assert lab.directions_of("sefa") is not lab.directions_of("sefa")  # a fresh list ...
    assert lab.directions_of("sefa")[0] is lab.directions_of("sefa")[0]  # ... of the same, computed once


def test_an_edit_renders_beside_the_original_and_pastes_only_with_a_photo(ctx):
    item = ctx.sessions.get("s1").items()[0]
    lab = ctx.lab("s1", item.model_id)
    renderer = lab.edit_renderer(item)
    smile = lab.directions["smile"]
    new_ws, picture, face = edit_tab.edited(renderer, [smile], [3.0], "middle", 0, 0)
    assert picture.shape[1] == 2 * picture.shape[0] and face.shape == (64, 64, 3)
    assert not np.array_equal(picture[:, :picture.shape[0]], picture[:, picture.shape[0]:])
    with pytest.raises(GanlabError, match="did not come from an aligned photo"):
        edit_tab.paste_into_photo(item, face)
    assert isinstance(Image.fromarray(face), Image.Image) and new_ws.shape == item.tensor.shape


def test_the_lab_of_an_evicted_model_goes_with_it(ctx):
    import gc
    import weakref

    lab = ctx.lab("s1", "toyfaces-64")
    gone = weakref.ref(lab.model)
    ctx.pool.evict("toyfaces-64")
    del lab
    fresh = ctx.lab("s1", "toyfaces-64")  # reloads the model; the old Lab is dropped
    gc.collect()
    assert gone() is None and fresh.model is ctx.pool.get("toyfaces-64")
