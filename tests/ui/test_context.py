"""Per-session server state: everything kept for a session is freed when it ends, and only that."""

from __future__ import annotations

import torch
from PIL import Image

from ganlab.session import StoredLatent
from ganlab.ui.context import AppContext
from ganlab.ui.edit_tab import EditState


def test_forgetting_a_session_frees_its_state_and_files_and_leaves_others_alone(monkeypatch):
    monkeypatch.setenv("GANLAB_OFFLINE", "1")
    ctx = AppContext()
    edits = EditState()
    ctx.on_forget(edits.forget)
    model = ctx.pool.get("toyfaces-64")
    ws = model.mapping(model.sample_z(1, seed=0))
    folders = {}
    for sid in ("gone", "stays"):
        ctx.new_cancel(sid)
        ctx.sessions.get(sid).add(StoredLatent("x", "toyfaces-64", "w+", ws), model)
        ctx.remember_sent_face(sid, Image.new("RGB", (8, 8)), origin=object())
        folders[sid] = ctx.temp_dir(sid)
        (folders[sid] / "morph.mp4").write_bytes(b"0" * 100)
        edits.user[(sid, "toyfaces-64")] = ["a direction"]
        edits.renderer(sid, model, ws)

    ctx.forget("gone")

    assert not folders["gone"].exists() and (folders["stays"] / "morph.mp4").exists()
    assert "gone" not in ctx._cancels and "gone" not in ctx._sent_faces and "stays" in ctx._sent_faces
    assert ctx.sessions.get("gone").items() == [] and len(ctx.sessions.get("stays").items()) == 1
    assert ("gone", "toyfaces-64") not in edits.user and ("stays", "toyfaces-64") in edits.user
    assert "gone" not in edits._renderers and "stays" in edits._renderers
    assert torch.equal(edits.renderer("stays", model, ws).ws, ws)


def test_stop_reaches_every_run_of_the_session_and_a_closed_page_stops_its_runs():
    ctx = AppContext()
    first, second = ctx.new_cancel("s"), ctx.new_cancel("s")  # Start, and Start again while it runs
    other = ctx.new_cancel("t")
    assert ctx.cancel_event("s") is second
    ctx.cancel("s")
    assert first.is_set() and second.is_set() and not other.is_set()
    third = ctx.new_cancel("s")
    assert not third.is_set()
    ctx.forget("s")
    assert third.is_set()


def test_learned_directions_per_session_and_model_are_capped_oldest_first():
    from ganlab.ui.edit_tab import MAX_LEARNED

    edits = EditState()
    for i in range(MAX_LEARNED + 5):
        edits.keep_learned("s", "toyfaces-64", f"d{i}")
    kept = edits.user[("s", "toyfaces-64")]
    assert len(kept) == MAX_LEARNED and kept[0] == "d5" and kept[-1] == f"d{MAX_LEARNED + 4}"


def test_a_page_takes_the_session_its_browser_keeps():
    from types import SimpleNamespace

    from ganlab.ui.context import bind_browser, session_id, unbind_browser

    page_a, page_b = SimpleNamespace(session_hash="hash-a"), SimpleNamespace(session_hash="hash-b")
    token = bind_browser(page_a, "")  # a first visit: the browser is given a token to keep
    assert len(token) >= 32 and session_id(page_a) == "browser-" + token
    assert bind_browser(page_b, token) == token and session_id(page_b) == session_id(page_a)  # a second tab
    assert bind_browser(SimpleNamespace(session_hash="hash-c"), "guess") != "guess"  # not one ganlab issued
    assert unbind_browser(page_a) is None          # the other tab still uses the session
    assert unbind_browser(page_b) == "browser-" + token
    assert session_id(page_b) == "hash-b"


def test_an_idle_session_is_forgotten_whole_even_if_its_page_never_said_goodbye():
    import time

    from ganlab.session import SessionRegistry

    ctx = AppContext(sessions=SessionRegistry(idle_seconds=0.05))
    folder = ctx.temp_dir("quiet")
    ctx.remember_sent_face("quiet", Image.new("RGB", (8, 8)), origin=object())
    event = ctx.new_cancel("quiet")
    time.sleep(0.1)
    ctx.sessions.get("busy")  # any activity sweeps
    assert not folder.exists() and "quiet" not in ctx._sent_faces and event.is_set()
