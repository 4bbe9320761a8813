"""Session tab: this browser session's latents (thumbnails, rename, delete, download, upload, add samples)."""

from __future__ import annotations


import gradio as gr
import torch

from ganlab.errors import GanlabError
from ganlab.imaging import to_uint8
from ganlab.models.sampling import class_input
from ganlab.session import StoredLatent, latent_to_npz_bytes, load_latent_file, projected_w_bytes
from ganlab.ui.context import AppContext
from ganlab.ui.context import session_id as _sid


def _caption(item: StoredLatent) -> str:
    psnr = item.metrics.get("psnr")
    return f"{item.name} · {item.model_id} · {item.space}" + (f" · {psnr:.1f} dB" if psnr else "")


def listing(ctx: AppContext, session: str):
    """(gallery items, dropdown update) for the session's latents."""
    items = ctx.sessions.get(session).items()
    gallery = [(i.thumbnail, _caption(i)) for i in items if i.thumbnail is not None]
    names = [i.name for i in items]
    return gallery, gr.Dropdown(choices=names, value=names[-1] if names else None)


def add_sample(ctx: AppContext, session: str, model_id: str, seed: float, class_name: str) -> None:
    """Store a generator sample (as w+ for StyleGAN2, z + class for BigGAN) so there is something to edit."""
    model = ctx.model(session, model_id)
    seed = int(seed)
    with torch.no_grad():
        z = model.sample_z(1, seed=seed)
        c = class_input(model, class_name or None)
        if model.kind == "stylegan2":
            latent, space = model.mapping(z), "w+"
        else:
            latent, space = z, "z"
        thumb = to_uint8(model.synthesize(latent, space=space, c=c))[0]
    ctx.sessions.get(session).add(StoredLatent(f"{model_id}-seed{seed}", model_id, space, latent, c=c,
                                               thumbnail=thumb, source=f"sample seed {seed}"), model)


def download(ctx: AppContext, session: str, name: str, official: bool) -> str:
    """Write the latent to a temporary file for the browser to download; returns its path."""
    item = ctx.sessions.get(session).get(name)
    folder = ctx.temp_dir(session)
    if official:
        path = folder / "projected_w.npz"
        path.write_bytes(projected_w_bytes(item, ctx.model(session, item.model_id)))
    else:
        path = folder / f"{name}.npz"
        path.write_bytes(latent_to_npz_bytes(item))
    return str(path)


def upload(ctx: AppContext, session: str, path: str, model_id: str) -> None:
    model = ctx.model(session, model_id)
    ctx.sessions.get(session).add(load_latent_file(path, model, model_id), model)


def build(ctx: AppContext):
    """Declare the tab; returns (refresh handler, its outputs) so app.py can refresh when the tab opens."""
    gr.Markdown("Latents recovered or created in this browser session. They live on the server until the session "
                "is idle for a few hours; download the ones you want to keep.")
    gallery = gr.Gallery(label="Stored latents", columns=6, height=240, elem_id="session-gallery")
    with gr.Row():
        name = gr.Dropdown([], label="Latent", elem_id="session-latent")
        new_name = gr.Textbox(label="Rename to")
        rename = gr.Button("Rename", size="sm")
        delete = gr.Button("Delete", size="sm", variant="stop")
    with gr.Row():
        get_npz = gr.Button("Download .npz", size="sm")
        get_official = gr.Button("Download projected_w.npz", size="sm")
        file_out = gr.File(label="Download", interactive=False, elem_id="session-download")
    with gr.Row():
        file_in = gr.File(label="Upload a latent (.npz or .pt)", file_types=[".npz", ".pt"])
        model = gr.Dropdown([s.id for s in ctx.registry.list("")], value="toyfaces-64", label="Made with model")
        ctx.follow_models(model)
    with gr.Accordion("Add a generator sample", open=False):
        with gr.Row():
            sample_model = gr.Dropdown([s.id for s in ctx.registry.list("")], value="toyfaces-64", label="Model")
            ctx.follow_models(sample_model)
            seed = gr.Number(value=0, precision=0, label="Seed", elem_id="session-seed")
            class_name = gr.Textbox(label="Class (BigGAN)")
            add = gr.Button("Add sample", elem_id="session-add-sample")

    def refresh(request: gr.Request):
        return listing(ctx, _sid(request))

    def readable(action, request: gr.Request, *args):
        try:
            action(*args)
        except GanlabError as err:
            raise gr.Error(str(err)) from None
        return listing(ctx, _sid(request))

    def on_rename(old: str, new: str, request: gr.Request):
        return readable(lambda: ctx.sessions.get(_sid(request)).rename(old, new), request)

    def on_delete(latent: str, request: gr.Request):
        return readable(lambda: ctx.sessions.get(_sid(request)).delete(latent), request)

    def on_add(model_id: str, n: float, cls: str, request: gr.Request):
        return readable(lambda: add_sample(ctx, _sid(request), model_id, n, cls), request)

    def on_upload(path: str, model_id: str, request: gr.Request):
        return readable(lambda: upload(ctx, _sid(request), path, model_id), request)

    def on_download(latent: str, official: bool, request: gr.Request) -> str:
        if not latent:
            raise gr.Error("Pick a latent first.")
        try:
            return download(ctx, _sid(request), latent, official)
        except GanlabError as err:
            raise gr.Error(str(err)) from None

    def on_npz(latent: str, request: gr.Request) -> str:
        return on_download(latent, False, request)

    def on_official(latent: str, request: gr.Request) -> str:
        return on_download(latent, True, request)

    outputs = [gallery, name]
    rename.click(on_rename, [name, new_name], outputs)
    delete.click(on_delete, [name], outputs)
    add.click(on_add, [sample_model, seed, class_name], outputs)
    file_in.upload(on_upload, [file_in, model], outputs)
    get_npz.click(on_npz, [name], file_out)
    get_official.click(on_official, [name], file_out)
    return refresh, outputs
