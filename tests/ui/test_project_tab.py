"""Project-tab engine use, without a browser: the chunked projector the app runs on ZeroGPU."""

from __future__ import annotations

import torch

from ganlab.invert.losses import FALLBACK_NAME, Distance, fallback_distance
from ganlab.invert.projector import ProjectionConfig, ProjectionResult, ProjectionStep, project, project_w_then_w_plus
from ganlab.models.registry import Registry, load_model
from ganlab.ui import project_tab

FALLBACK = Distance(FALLBACK_NAME, fallback_distance)


def test_chunked_projection_matches_one_call_and_streams_every_step(monkeypatch):
    torch.set_num_threads(1)
    model = load_model(Registry(), "toyfaces-64")
    with torch.no_grad():
        target = model.net.synthesis(model.mapping(model.sample_z(1, seed=4))).clamp(-1, 1)
    cfg = ProjectionConfig(num_steps=4, w_avg_samples=300, preview_every=0)
    calls = []
    real_call = project_tab._projector_call
    monkeypatch.setattr(project_tab, "_projector_call", lambda *a: calls.append(a[-2]) or real_call(*a))

    def chunked(*args, **kwargs):
        return project_tab.chunked_project(*args, **kwargs, pause_after_s=0.0)

    records = list(project_w_then_w_plus(model, target, cfg, distance=FALLBACK, run=chunked))
    whole = list(project_w_then_w_plus(model, target, cfg, distance=FALLBACK, run=project))
    assert len(calls) == 8  # 4 steps in w, 4 in w+, one GPU call each
    assert [r.step for r in records if isinstance(r, ProjectionStep)] == list(range(1, 9))
    assert isinstance(records[-1], ProjectionResult) and torch.equal(records[-1].ws, whole[-1].ws)


def test_a_stop_while_the_run_waits_in_the_queue_means_it_never_runs():
    from types import SimpleNamespace

    from PIL import Image

    from ganlab.ui.context import AppContext

    ctx = AppContext()
    request = SimpleNamespace(session_hash="queued-visitor")
    ctx.visit("queued-visitor").new_cancel()  # Start was clicked: the run is armed and waits for its turn
    ctx.visit("queued-visitor").cancel()      # Stop, before the queue reached it
    image = Image.new("RGB", (64, 64), (120, 90, 60))
    labels = list(project_tab.METHODS), list(project_tab.SPACES)
    out = list(project_tab.run_projection(ctx, image, "toyfaces-64", labels[0][0], labels[1][0], 20, "p", request))
    assert len(out) == 1 and "before it started" in out[0][2]
    assert ctx.sessions.get("queued-visitor").items() == []


def test_a_photo_projected_into_the_demo_model_is_told_what_that_model_cannot_do(monkeypatch):
    from types import SimpleNamespace

    from PIL import Image

    from ganlab.ui.context import AppContext

    monkeypatch.setenv("GANLAB_OFFLINE", "1")
    ctx = AppContext()
    request = SimpleNamespace(session_hash="visitor")
    project_tab_space = list(project_tab.SPACES)[0]
    out = list(project_tab.run_projection(ctx, Image.new("RGB", (64, 64), (200, 150, 120)), "toyfaces-64",
                                          "Landscape map (uses Steps)", project_tab_space, 2, "p", request))
    statuses = [status for _, _, status in out]
    assert "Done" in statuses[-1]  # the last word, which stays on the page, says it too
    assert all("cannot reproduce a photo" in s and "stylegan2-ffhq-1024" in s for s in statuses)
