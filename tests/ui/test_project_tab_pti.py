"""The Project tab's pivotal tuning, without a browser: its phases stream, Stop keeps the tuning, and the
stored latent edits through its own weights."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import torch
from PIL import Image

from ganlab.data.toyfaces import render_faces
from ganlab.imaging import to_uint8
from ganlab.ui import project_tab
from ganlab.ui.context import AppContext


def _pti_run(session: str, face_seed: int, steps: int, name: str, stop_when_tuning: bool = False):
    """A Project-tab PTI run of a held-out rendered face: its context and every status line it showed."""
    torch.set_num_threads(1)
    ctx = AppContext()
    ctx.visit(session).new_cancel()
    label = next(k for k, v in project_tab.METHODS.items() if v[0] == "pti")
    image = Image.fromarray(render_faces(1, 10 ** 9 + face_seed, 64)[0][0])
    statuses = []
    for out in project_tab.run_projection(ctx, image, "toyfaces-64", label, next(iter(project_tab.SPACES)), steps,
                                          name, SimpleNamespace(session_hash=session)):
        statuses.append(out[2])
        if stop_when_tuning and "Tuning the weights" in out[2]:
            ctx.visit(session).cancel()
    return ctx, statuses


def test_pivotal_tuning_streams_its_phases_and_stores_a_latent_that_edits_through_its_weights(monkeypatch):
    monkeypatch.setenv("GANLAB_OFFLINE", "1")
    ctx, statuses = _pti_run("pti-visitor", 5, 10, "tuned")
    assert any("Finding the pivot" in s for s in statuses) and any("Tuning the weights" in s for s in statuses)
    assert "own tuned generator weights" in statuses[-1]
    latent = ctx.latents("pti-visitor").get("tuned")
    assert latent.tuned is not None
    renderer = ctx.edit_renderer("pti-visitor", latent)
    assert renderer.tuned is latent.tuned
    assert np.array_equal(to_uint8(renderer.original)[0], latent.thumbnail)


def test_stop_during_pivotal_tuning_keeps_the_tuning_done_so_far(monkeypatch):
    monkeypatch.setenv("GANLAB_OFFLINE", "1")
    ctx, statuses = _pti_run("pti-stopper", 6, 500, "stopped", stop_when_tuning=True)
    assert "cancelled" in statuses[-1] and "own tuned generator weights" in statuses[-1]
    assert ctx.latents("pti-stopper").get("stopped").tuned is not None
