"""`lab.invert(..., method="pti")`: the latent carries its tuned weights everywhere the Lab takes it."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import ganlab
from ganlab.data.toyfaces import render_faces
from ganlab.imaging import from_uint8, to_uint8
from ganlab.invert.pti import PTIConfig
from ganlab.session import StoredLatent


@pytest.fixture(autouse=True)
def offline(monkeypatch):
    monkeypatch.setenv("GANLAB_OFFLINE", "1")


@pytest.fixture(scope="module")
def lab():
    torch.set_num_threads(1)
    return ganlab.load("toyfaces-64", device="cpu")


@pytest.fixture(scope="module")
def inverted(lab):
    face = from_uint8(render_faces(1, 10 ** 9 + 3, 64)[0])
    plain = np.asarray(lab.render(lab.sample(4)[0]))
    return lab.invert(face, method="pti", steps=10, preview_every=0), plain


def test_pti_returns_the_latent_with_its_tuned_weights_and_leaves_the_model_alone(lab, inverted):
    inv, plain_before = inverted
    assert inv.latent.tuned is not None and inv.latent.space == "w+" and inv.steps_run == PTIConfig.pivot_steps + 10
    assert np.array_equal(np.asarray(lab.render(inv.latent)), np.asarray(inv.image))
    assert np.array_equal(np.asarray(lab.render(lab.sample(4)[0])), plain_before)
    untuned = StoredLatent("bare", lab.name, "w+", inv.latent.tensor)
    assert not np.array_equal(np.asarray(lab.render(untuned)), np.asarray(inv.image))


def test_edits_of_a_pti_latent_render_through_its_weights(lab, inverted):
    inv, _ = inverted
    still = lab.edit(inv.latent, {"pc0": 0.0})
    moved = lab.edit(inv.latent, {"pc0": 2.0})
    assert still.tuned is inv.latent.tuned and moved.tuned is inv.latent.tuned
    assert np.array_equal(np.asarray(lab.render(still)), np.asarray(inv.image))
    renderer = lab.edit_renderer(inv.latent)
    direction = lab.find_direction("pc0")
    ws, img = renderer.render([direction], [2.0])
    assert torch.equal(ws, moved.tensor.to(ws.device))
    assert np.array_equal(np.asarray(lab.render(moved)), to_uint8(img)[0])


def test_interpolation_blends_tuned_weights_with_the_latents(lab, inverted):
    inv, plain = inverted
    video = lab.interpolate([inv.latent, lab.sample(4)[0]], frames=5, easing="linear")
    assert np.array_equal(video.frames[0], np.asarray(inv.image))
    assert np.array_equal(video.frames[-1], plain)
