"""Models-tab handlers, without a browser: statuses, samples, and readable errors."""

from __future__ import annotations

import gradio as gr
import pytest

from ganlab import settings
from ganlab.models.download import url_cache_path
from ganlab.ui.context import AppContext
from ganlab.ui.models_tab import add_model, add_upload, models_table, preview, remove_model


@pytest.fixture
def ctx(monkeypatch, tmp_path):
    monkeypatch.setenv("GANLAB_OFFLINE", "1")
    monkeypatch.setenv("GANLAB_CACHE", str(tmp_path))
    return AppContext()


def test_table_has_one_row_per_model_with_its_status(ctx):
    rows = {r[0]: r for r in models_table(ctx)}
    assert rows["toyfaces-64"][4] == "ready"
    assert rows["biggan-deep-512"][4] == "MISSING" and "GANLAB_OFFLINE" in rows["biggan-deep-512"][5]
    # offline, every real model says what it is, how big it is, that it is not here, and how to get it
    what, _, _, state, detail, _ = rows["stylegan2-ffhq-256"][1:]
    assert "FFHQ" in what and state == "MISSING"
    assert "not on this machine (about 296 MB)" in detail and "run once with network access" in detail
    assert str(url_cache_path(ctx.registry.get("stylegan2-ffhq-256").files[0][0][1])) in detail


def test_a_public_app_tells_how_big_a_missing_model_is_but_not_where_its_files_go(ctx, monkeypatch):
    monkeypatch.setenv("GANLAB_PUBLIC", "1")
    detail = {r[0]: r for r in models_table(ctx)}["stylegan2-ffhq-1024"][5]
    assert "about 382 MB" in detail and "once the lab is online" in detail
    assert str(settings.cache_dir()) not in detail


def test_preview_enlarges_the_sample_for_display(ctx):
    picture = preview(ctx, "toyfaces-64", 3, 1.0, "")
    assert picture.shape == (256, 256, 3)


def test_missing_weights_become_a_readable_page_error(ctx):
    with pytest.raises(gr.Error, match="to fix:"):
        preview(ctx, "stylegan2-ffhq-1024", 0, 1.0, "")


def test_biggan_preview_needs_a_known_class(ctx):
    assert preview(ctx, "toyobjects-64", 0, 1.0, "star").shape == (256, 256, 3)
    with pytest.raises(gr.Error, match="class"):
        preview(ctx, "toyobjects-64", 0, 1.0, "")
    with pytest.raises(gr.Error):
        preview(ctx, "toyobjects-64", 0, 1.0, "zebra")


def test_adding_a_bad_path_is_a_page_error(ctx, tmp_path):
    with pytest.raises(gr.Error, match="no file or folder"):
        add_model(ctx, str(tmp_path / "missing.pkl"))


@pytest.mark.parametrize("location", ["/etc/passwd", "/no/such/file.pkl", "file:///etc/shadow", "app.py",
                                      "http://huggingface.co/x.pkl", "https://127.0.0.1:7860/",
                                      "https://169.254.169.254/latest/meta-data", "https://evil.example/ffhq.pkl",
                                      "https://huggingface.co.evil.example/x.pkl"])
def test_a_public_app_adds_no_server_path_or_foreign_url_and_tells_nothing_about_the_server(
        ctx, monkeypatch, location):
    monkeypatch.setenv("SPACE_ID", "someone/ganlab")
    before = models_table(ctx)
    with pytest.raises(gr.Error) as err:
        add_model(ctx, location)
    message = str(err.value)
    assert "only adds checkpoints by https URL from huggingface.co" in message
    assert "no file" not in message and "/etc" not in message and location not in message
    assert models_table(ctx) == before


def test_a_public_app_accepts_an_allowed_https_url_and_the_operator_can_extend_the_list(ctx, monkeypatch):
    monkeypatch.setenv("GANLAB_PUBLIC", "1")
    add_model(ctx, "https://huggingface.co/someone/model/resolve/main/network.pkl", "a")
    with pytest.raises(gr.Error):
        add_model(ctx, "https://mirror.example.org/ffhq.pkl", "a")
    monkeypatch.setenv("GANLAB_ALLOWED_HOSTS", "mirror.example.org")
    add_model(ctx, "https://mirror.example.org/ffhq.pkl", "a")
    added = {row[0].rsplit("-", 1)[0] for row in models_table(ctx, "a") if row[0].startswith("user-")}
    assert added == {"user-network", "user-ffhq"}


def test_a_model_a_visitor_adds_is_theirs_alone_and_ends_with_their_session(ctx):
    from ganlab.errors import GanlabError
    from ganlab.settings import assets_dir

    folder = str(assets_dir() / "models" / "toyfaces-64")
    add_model(ctx, folder, "alice")
    add_model(ctx, folder, "alice")  # the same name again: a second entry, nothing replaced
    add_model(ctx, folder, "bob")    # and another visitor's own entry, under an id of theirs
    mine = {row[0] for row in models_table(ctx, "alice")} - {row[0] for row in models_table(ctx)}
    first = min(mine, key=len)
    assert len(mine) == 2 and first.startswith("user-toyfaces-64-") and first + "-2" in mine
    bobs = {row[0] for row in models_table(ctx, "bob")} - {row[0] for row in models_table(ctx)}
    assert len(bobs) == 1 and not mine & bobs
    assert (first, first) in ctx.model_choices("stylegan2", "alice")
    assert first not in {mid for _, mid in ctx.model_choices("stylegan2", "bob")}
    assert ctx.model("alice", first).resolution == 64
    with pytest.raises(GanlabError, match=f"unknown model '{first}'"):
        ctx.model("bob", first)
    with pytest.raises(gr.Error, match="unknown model"):
        preview(ctx, first, 0, 1.0, "", "bob")
    with pytest.raises(gr.Error, match="only models you added"):
        remove_model(ctx, "toyfaces-64", "alice")
    remove_model(ctx, first + "-2", "alice")
    assert {row[0] for row in models_table(ctx, "alice")} - {row[0] for row in models_table(ctx)} == {first}
    ctx.forget("alice")
    assert not mine & {row[0] for row in models_table(ctx, "alice")}
    assert all(mid not in mine for mid, _, _ in ctx.pool.loaded())


def test_a_public_app_says_missing_weights_are_missing_without_server_paths(ctx, monkeypatch, tmp_path):
    monkeypatch.setenv("SPACE_ID", "someone/ganlab")
    with pytest.raises(gr.Error) as err:
        preview(ctx, "stylegan2-ffhq-1024", 0, 1.0, "", "visitor")
    message = str(err.value)
    assert "not available on this server" in message
    assert str(tmp_path) not in message and "cache" not in message.lower() and "tried" not in message


def test_a_public_app_takes_an_uploaded_checkpoint_for_that_visitor_only(ctx, monkeypatch, tmp_path, golden_dir):
    import shutil

    monkeypatch.setenv("SPACE_ID", "someone/ganlab")
    upload = tmp_path / "gradio" / "tiny_snapshot.pkl"  # where Gradio would have put the upload
    upload.parent.mkdir()
    shutil.copyfile(golden_dir / "stylegan2_ada" / "tiny_snapshot.pkl", upload)
    table, dropdown = add_upload(ctx, str(upload), "visitor")
    row = next(r for r in table if r[0].startswith("user-tiny_snapshot"))
    assert "uploaded in this session" in row[5] and ctx.model("visitor", row[0]).kind == "stylegan2"
    assert not any(str(tmp_path) in str(cell) for r in table for cell in r)
    picture = preview(ctx, row[0], 1, 1.0, "", "visitor")
    assert picture.ndim == 3 and picture.std() > 0
    with pytest.raises(gr.Error, match="unknown model"):
        preview(ctx, row[0], 1, 1.0, "", "someone else")
    kept = ctx.visit("visitor").uploaded_path(ctx.visit("visitor").added_models()[row[0]])
    assert kept.is_file()
    remove_model(ctx, row[0], "visitor")  # its file goes with it
    assert not kept.exists() and ctx.visit("visitor").added_models() == {}


def test_an_uploaded_file_that_is_not_a_checkpoint_is_refused_without_server_paths(ctx, monkeypatch, tmp_path):
    monkeypatch.setenv("SPACE_ID", "someone/ganlab")
    fake = tmp_path / "weights.pkl"
    fake.write_text("not a pickle at all")
    with pytest.raises(gr.Error) as err:
        add_upload(ctx, str(fake), "visitor")
    assert "weights.pkl" in str(err.value) and str(tmp_path) not in str(err.value)
    assert not any(r[0].startswith("user-weights") for r in models_table(ctx, "visitor"))
    assert ctx.visit("visitor").added_models() == {}
    text = tmp_path / "notes.txt"
    text.write_text("hello")
    with pytest.raises(gr.Error, match="not a checkpoint file"):
        add_upload(ctx, str(text), "visitor")


def test_an_uploaded_checkpoint_comes_back_after_a_restart(monkeypatch, tmp_path, golden_dir):
    from ganlab.session import SessionRegistry, new_token, persistent_id

    monkeypatch.setenv("GANLAB_OFFLINE", "1")
    monkeypatch.setenv("SPACE_ID", "someone/ganlab")
    sid = persistent_id(new_token())
    add_upload(AppContext(sessions=SessionRegistry(root=tmp_path / "state")),
               str(golden_dir / "stylegan2_ada" / "tiny_snapshot.pkl"), sid)
    after = AppContext(sessions=SessionRegistry(root=tmp_path / "state"))  # a new process
    after.restore(sid)
    (model_id,) = after.visit(sid).added_models()
    assert model_id.startswith("user-tiny_snapshot") and after.model(sid, model_id).resolution > 0


def test_a_session_without_a_saved_token_has_the_same_limits(ctx, monkeypatch, tmp_path, golden_dir):
    from ganlab.ui import visit as visits

    monkeypatch.setattr(visits, "MAX_MODELS", 2)
    pkl = golden_dir / "stylegan2_ada" / "tiny_snapshot.pkl"
    monkeypatch.setattr(visits, "MAX_UPLOAD_BYTES", pkl.stat().st_size * 3 // 2)
    add_upload(ctx, str(pkl), "api-client")
    with pytest.raises(gr.Error, match="uploads would pass"):  # the quota counts what was kept before
        add_upload(ctx, str(pkl), "api-client")
    add_model(ctx, str(tmp_path), "api-client")
    with pytest.raises(gr.Error, match="at most 2 models"):
        add_model(ctx, str(tmp_path), "api-client")
    for _ in range(10):  # making downloads does not delete the uploaded checkpoint
        ctx.visit("api-client").temp_dir()
    (upload_id,) = [m for m in ctx.visit("api-client").added_models() if m.startswith("user-tiny_snapshot")]
    assert ctx.model("api-client", upload_id).resolution > 0
