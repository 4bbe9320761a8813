"""Per-session server state: one Visit per session, freed whole when the session ends, and only that."""

from __future__ import annotations

import gradio as gr
import numpy as np
import pytest
from PIL import Image

from ganlab.errors import GanlabError
from ganlab.session import StoredLatent
from ganlab.ui.context import MAX_RENDERERS, AppContext, readable
from ganlab.ui.visit import MAX_LEARNED


def test_forgetting_a_session_frees_its_state_and_files_and_leaves_others_alone(monkeypatch):
    monkeypatch.setenv("GANLAB_OFFLINE", "1")
    ctx = AppContext()
    lab = ctx.lab("any", "toyfaces-64")
    ws = lab.model.mapping(lab.model.sample_z(1, seed=0))
    folders, events = {}, {}
    for sid in ("gone", "stays"):
        visit = ctx.visit(sid)
        events[sid] = visit.new_cancel()
        item = ctx.store(sid, StoredLatent("x", "toyfaces-64", "w+", ws))
        visit.faces = [Image.new("RGB", (8, 8))]
        folders[sid] = visit.temp_dir()
        (folders[sid] / "morph.mp4").write_bytes(b"0" * 100)
        visit.keep_learned("toyfaces-64", lab.directions_of("sefa")[0])
        ctx.edit_renderer(sid, item)

    gone = ctx.visit("gone")
    ctx.forget("gone")

    assert not folders["gone"].exists() and (folders["stays"] / "morph.mp4").exists()
    assert events["gone"].is_set() and not events["stays"].is_set()
    assert gone.faces == [] and gone.renderer is None and ctx.visit("gone") is not gone  # a new visit starts empty
    assert ctx.latents("gone").items() == [] and len(ctx.latents("stays").items()) == 1
    assert ctx.visit("gone").learned_for("toyfaces-64") == [] and ctx.visit("stays").learned_for("toyfaces-64")
    assert ctx.visit("stays").renderer is not None and ctx.visit("stays").faces


def test_stop_reaches_every_run_of_the_session_and_a_closed_page_stops_its_runs():
    ctx = AppContext()
    first, second = ctx.visit("s").new_cancel(), ctx.visit("s").new_cancel()  # Start, and Start again
    other = ctx.visit("t").new_cancel()
    assert ctx.visit("s").cancel_event() is second
    ctx.visit("s").cancel()
    assert first.is_set() and second.is_set() and not other.is_set()
    third = ctx.visit("s").new_cancel()
    assert not third.is_set()
    ctx.forget("s")
    assert third.is_set()


def test_learned_directions_per_model_are_capped_oldest_first():
    visit = AppContext().visit("s")
    for i in range(MAX_LEARNED + 5):
        visit.keep_learned("toyfaces-64", f"d{i}")
    kept = visit.learned_for("toyfaces-64")
    assert len(kept) == MAX_LEARNED and kept[-1] == "d5" and kept[0] == f"d{MAX_LEARNED + 4}"
    assert visit.learned_for("other-model") == []


def test_only_the_latest_sessions_keep_their_edit_renderer_warm():
    ctx = AppContext()
    lab = ctx.lab("s", "toyfaces-64")
    item = lab.sample(0)[0]
    sessions = [f"s{i}" for i in range(MAX_RENDERERS + 2)]
    for sid in sessions:
        ctx.edit_renderer(sid, item)
    assert [ctx.visit(s).renderer is None for s in sessions] == [True, True] + [False] * MAX_RENDERERS
    kept = ctx.visit(sessions[-1]).renderer
    assert ctx.edit_renderer(sessions[-1], item) is kept  # the same latent: nothing rendered again
    assert ctx.edit_renderer(sessions[-1], lab.sample(1)[0]) is not kept


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
    visit = ctx.visit("quiet")
    folder = visit.temp_dir()
    visit.faces = [Image.new("RGB", (8, 8))]
    event = visit.new_cancel()
    time.sleep(0.1)
    ctx.visit("busy")  # any activity sweeps
    assert not folder.exists() and visit.faces == [] and event.is_set() and ctx.visit("quiet") is not visit


def test_a_ganlab_error_becomes_the_page_message_in_plain_and_streaming_handlers():
    @readable
    def plain(x):
        raise GanlabError(f"bad {x}")

    @readable
    def stream(x):
        yield 1
        raise GanlabError(f"bad {x}")

    @readable
    def bug(x):
        raise ValueError(x)

    with pytest.raises(gr.Error, match="bad 1"):
        plain(1)
    run = stream(2)
    assert next(run) == 1
    with pytest.raises(gr.Error, match="bad 2"):
        next(run)
    with pytest.raises(ValueError):  # a bug is not dressed up as the visitor's mistake
        bug(3)


def test_learned_directions_and_added_models_come_back_after_a_restart(tmp_path, monkeypatch):
    from ganlab.models.registry import Registry
    from ganlab.session import SessionRegistry, new_token, persistent_id
    from ganlab.settings import assets_dir
    from ganlab.ui.models_tab import add_model

    monkeypatch.setenv("GANLAB_OFFLINE", "1")
    sid = persistent_id(new_token())
    before = AppContext(sessions=SessionRegistry(root=tmp_path))
    add_model(before, str(assets_dir() / "models" / "toyfaces-64"), sid)
    added = [s.id for s in before.registry.list(sid) if s.owner == sid]
    lab = before.lab(sid, added[0])
    a, b = lab.sample(range(6)), lab.sample(range(6, 12))
    mine = lab.learn_direction(a, b, "mine", remember=False)
    before.visit(sid).keep_learned(added[0], mine, lab.model.w_dim)
    before.store(sid, a[0])

    after = AppContext(registry=Registry(), sessions=SessionRegistry(root=tmp_path))  # a new process
    assert added[0] not in after.registry.specs
    after.restore(sid)  # the page loads again with the browser's token
    assert after.registry.get(added[0], viewer=sid).owner == sid
    item = after.latents(sid).items()[0]
    assert item.model_id == added[0] and after.lab(sid, item.model_id).render(item)
    kept = after.visit(sid).learned_for(added[0], after.lab(sid, added[0]).model.w_dim)
    assert [d.name for d in kept] == ["mine"] and np.allclose(kept[0].vector, mine.vector)
    with pytest.raises(GanlabError, match="unknown model"):
        after.registry.get(added[0], viewer="someone else")


def test_a_session_keeps_only_its_latest_download_folders():
    from ganlab.ui.visit import MAX_TEMP_DIRS

    visit = AppContext().visit("busy")
    folders = [visit.temp_dir() for _ in range(MAX_TEMP_DIRS + 3)]
    assert [f.exists() for f in folders] == [False] * 3 + [True] * MAX_TEMP_DIRS
    visit.end()
    assert not any(f.exists() for f in folders)


def test_a_page_open_past_its_session_s_idle_limit_finds_its_models_again(tmp_path, monkeypatch):
    import time

    from ganlab.session import SessionRegistry, new_token, persistent_id
    from ganlab.settings import assets_dir
    from ganlab.ui.models_tab import add_model

    monkeypatch.setenv("GANLAB_OFFLINE", "1")
    sid = persistent_id(new_token())
    ctx = AppContext(sessions=SessionRegistry(idle_seconds=0.05, root=tmp_path))
    add_model(ctx, str(assets_dir() / "models" / "toyfaces-64"), sid)
    (model_id,) = ctx.visit(sid).added_models()
    time.sleep(0.1)
    ctx.visit("someone else")  # sweeps: the session is forgotten, its model with it
    assert model_id not in ctx.registry.specs
    ctx.visit(sid)  # the page's next event brings the session back, and its model
    assert ctx.model(sid, model_id).resolution == 64


def test_a_public_page_says_what_is_missing_without_server_paths(monkeypatch):
    """A missing model's message lists where it looked; a visitor of a public app reads it without the
    server's folders, while a local user keeps the whole path to act on."""
    from ganlab.errors import WeightsUnavailable

    @readable
    def handler():
        raise WeightsUnavailable("CLIP ViT-B/32", ["the cache /srv/cache/ganlab/clip"], "not downloaded", "go online")

    monkeypatch.setenv("GANLAB_PUBLIC", "1")
    with pytest.raises(gr.Error) as public:
        handler()
    assert "/srv/cache" not in str(public.value) and "the cache clip" in str(public.value)
    monkeypatch.delenv("GANLAB_PUBLIC")
    monkeypatch.delenv("SPACE_ID", raising=False)
    with pytest.raises(gr.Error) as local:
        handler()
    assert "/srv/cache/ganlab/clip" in str(local.value)
