"""Models-tab handlers, without a browser: statuses, samples, and readable errors."""

from __future__ import annotations

import gradio as gr
import pytest

from ganlab.ui.context import AppContext
from ganlab.ui.models_tab import add_model, models_table, preview


@pytest.fixture
def ctx(monkeypatch, tmp_path):
    monkeypatch.setenv("GANLAB_OFFLINE", "1")
    monkeypatch.setenv("GANLAB_CACHE", str(tmp_path))
    return AppContext()


def test_table_has_one_row_per_model_with_its_status(ctx):
    rows = {r[0]: r for r in models_table(ctx)}
    assert rows["toyfaces-64"][3] == "ready"
    assert rows["biggan-deep-512"][3] == "MISSING" and "GANLAB_OFFLINE" in rows["biggan-deep-512"][4]


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
