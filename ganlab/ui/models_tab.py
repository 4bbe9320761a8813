"""Models tab: every registered model with its status, adding a checkpoint, and a quick sample."""

from __future__ import annotations

from pathlib import Path

import gradio as gr
import numpy as np

from ganlab import settings
from ganlab.models.registry import status
from ganlab.models.sampling import sample_images
from ganlab.errors import GanlabError
from ganlab.ui.context import AppContext, enlarge, readable, session_id, upload_name
from ganlab.ui.gpu import gpu

HEADERS = ["model", "what it is", "kind", "resolution", "status", "detail", "licence"]
STATE_LABEL = {"ready": "ready", "downloadable": "downloads on first use", "missing": "MISSING"}


def models_table(ctx: AppContext, session: str = "") -> list[list[str]]:
    """The shared models and those `session` added (no other visitor's)."""
    rows = []
    for spec in ctx.registry.list(session):
        st = status(spec)
        res = f"{spec.resolution}px" if spec.resolution else "?"
        detail = "uploaded in this session" if spec.owner and spec.path and settings.public() else st.detail
        rows.append([spec.id, spec.description or spec.title, spec.kind, res, STATE_LABEL.get(st.state, st.state),
                     detail, spec.licence])
    return rows


@gpu(duration=30)
@readable
def preview(ctx: AppContext, model_id: str, seed: float, truncation: float, class_name: str,
            session: str = "") -> np.ndarray:
    """One sample of `model_id` (the picture `python -m ganlab sample` makes of that seed), enlarged."""
    _, picture = next(sample_images(ctx.model(session, model_id), [int(seed)], truncation, class_name or None))
    return enlarge(picture)


def _changed(ctx: AppContext, session: str, message: str, chosen: str):
    """The table and model list after the visitor's models changed, with `chosen` chosen."""
    gr.Info(message)
    return models_table(ctx, session), gr.Dropdown(choices=ctx.model_choices(None, session), value=chosen)


@readable
def add_model(ctx: AppContext, location: str, session: str = ""):
    """Register a checkpoint for this session only (the app serves many visitors)."""
    spec = ctx.add_model(session, location.strip())
    return _changed(ctx, session, f"added {spec.id}: it can be used in every tab of this session", spec.id)


@readable
def add_upload(ctx: AppContext, path: str, session: str = ""):
    """Register a checkpoint file the visitor uploaded, for this session only (allowed in a public app:
    the file is the visitor's own, read by the safe loaders)."""
    if not path:
        raise GanlabError("choose a .pkl or .pt checkpoint file to upload")
    spec = ctx.add_upload(session, Path(path), upload_name(path) or "checkpoint.pkl")
    return _changed(ctx, session, f"added {spec.id}: it can be used in every tab of this session", spec.id)


@readable
def remove_model(ctx: AppContext, model_id: str, session: str = ""):
    """Remove a model the visitor added (its uploaded file too), freeing room for another."""
    if not model_id:
        raise GanlabError("choose one of your models to remove")
    ctx.remove_model(session, model_id)
    return _changed(ctx, session, f"removed {model_id}", "toyfaces-64")


def build(ctx: AppContext) -> None:
    gr.Markdown("Models this lab can use. Bundled demo models work offline; real ones download on first use "
                "and are cached (`GANLAB_CACHE`).")
    table = gr.Dataframe(value=models_table(ctx), headers=HEADERS, interactive=False, wrap=True,
                         elem_id="models-table")
    with gr.Row():
        refresh = gr.Button("Refresh", size="sm")
        where = ("an https URL from " + ", ".join(settings.public_hosts()) if settings.public()
                 else "local path or URL: .pkl, .pt, or a model folder")
        location = gr.Textbox(label=f"Add a checkpoint ({where})", scale=4)
        add = gr.Button("Add", size="sm")
        upload = gr.File(label="or upload one (.pkl, .pt)", file_types=[".pkl", ".pt", ".pth"], scale=2,
                         height=120, elem_id="models-upload")
    with gr.Row():
        with gr.Column():
            model = ctx.model_dropdown(None, "toyfaces-64")
            seed = gr.Number(value=0, precision=0, label="Seed")
            truncation = gr.Slider(0.1, 1.0, value=1.0, step=0.05, label="Truncation")
            class_name = gr.Textbox(label="Class (BigGAN models)", placeholder="e.g. golden retriever or 3")
            with gr.Row():
                go = gr.Button("Generate", variant="primary", elem_id="models-generate")
                drop = gr.Button("Remove this model (yours only)", size="sm", elem_id="models-remove")
        image = gr.Image(label="Sample", type="numpy", elem_id="models-sample", height=320)
    def on_refresh(request: gr.Request):
        return models_table(ctx, session_id(request))

    def on_add(loc: str, request: gr.Request):
        return add_model(ctx, loc, session_id(request))

    def on_generate(m: str, s: float, t: float, c: str, request: gr.Request):
        return preview(ctx, m, s, t, c, session_id(request))

    refresh.click(on_refresh, outputs=table, show_progress="hidden")
    add.click(on_add, inputs=location, outputs=[table, model], show_progress="hidden")

    def on_upload(path: str, request: gr.Request):
        return add_upload(ctx, path, session_id(request))

    upload.upload(on_upload, inputs=upload, outputs=[table, model], show_progress_on=[table])

    def on_remove(model_id: str, request: gr.Request):
        return remove_model(ctx, model_id, session_id(request))

    drop.click(on_remove, inputs=model, outputs=[table, model], show_progress="hidden")
    go.click(on_generate, inputs=[model, seed, truncation, class_name], outputs=image, concurrency_limit=2,
             show_progress_on=[image])
