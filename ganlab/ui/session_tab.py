"""Session tab: this browser session's latents (thumbnails, rename, delete, download, upload, add samples)."""

from __future__ import annotations
import gradio as gr
import numpy as np

from ganlab.errors import GanlabError
from ganlab.session import StoredLatent, latent_to_npz_bytes, load_latent_file, projected_w_bytes
from ganlab.ui.context import AppContext, readable
from ganlab.ui.context import session_id as _sid

CONFIRM_DELETE = "(name) => (name && confirm(`Delete the latent '${name}'?`)) ? name : null"


def _details(item: StoredLatent) -> str:
    psnr = item.metrics.get("psnr")
    return (f"**{item.name}** · model {item.model_id} · {item.space} · {item.source or 'no source'}"
            + (f" · PSNR {psnr:.1f} dB" if psnr else ""))


def listing(ctx: AppContext, session: str, chosen: str | None = None
            ) -> tuple[list[tuple[np.ndarray, str]], str | None, str]:
    """(gallery items, the chosen name, its details) for the session's latents: `chosen` while it
    exists, else the newest. The gallery shows every latent, captioned by its name alone."""
    items = ctx.latents(session).items()
    names = [i.name for i in items]
    value = chosen if chosen in names else (names[-1] if names else None)
    gallery = [(i.thumbnail if i.thumbnail is not None else _blank(), i.name) for i in items]
    details = next((_details(i) for i in items if i.name == value), "Nothing stored yet.")
    return gallery, value, details


def shown(ctx: AppContext, session: str, chosen: str | None = None):
    """`listing` as the tab's outputs (gallery, latent dropdown, details): the chosen one highlighted."""
    gallery, value, details = listing(ctx, session, chosen)
    names = [name for _, name in gallery]
    return (gr.Gallery(value=gallery, selected_index=names.index(value) if value else None),
            gr.Dropdown(choices=names, value=value), details)


def _blank() -> np.ndarray:
    return np.full((64, 64, 3), 128, np.uint8)


def add_sample(ctx: AppContext, session: str, model_id: str, seed: float, class_name: str) -> StoredLatent:
    """Store a generator sample so there is something to edit (w+ for StyleGAN2, z and class for BigGAN)."""
    return ctx.store(session, ctx.lab(session, model_id).sample(int(seed), class_name=class_name or None)[0])


def download(ctx: AppContext, session: str, name: str, official: bool) -> str:
    """Write the latent to a temporary file for the browser to download; returns its path."""
    item = ctx.latents(session).get(name)
    folder = ctx.visit(session).temp_dir()
    if official:
        path = folder / "projected_w.npz"
        path.write_bytes(projected_w_bytes(item, ctx.model(session, item.model_id)))
    else:
        path = folder / f"{name}.npz"
        path.write_bytes(latent_to_npz_bytes(item))
    return str(path)


def upload(ctx: AppContext, session: str, path: str, model_id: str) -> StoredLatent:
    return ctx.store(session, load_latent_file(path, ctx.model(session, model_id), model_id))


def build(ctx: AppContext):
    """Declare the tab; returns (refresh handler, its inputs, its outputs) for when the tab opens."""
    gr.Markdown("Latents recovered or created in this browser session. They live on the server until the session "
                "is idle for a few hours; download the ones you want to keep.")
    gallery = gr.Gallery(label="Stored latents (click one to choose it)", columns=6, height=260,
                         object_fit="contain", allow_preview=False, fit_columns=False, elem_id="session-gallery")
    details = gr.Markdown(elem_id="session-details")
    with gr.Row():
        name = gr.Dropdown([], label="Latent", elem_id="session-latent")
        new_name = gr.Textbox(label="Rename to")
        rename = gr.Button("Rename", size="sm")
        delete = gr.Button("Delete", size="sm", variant="stop", elem_id="session-delete")
    with gr.Row():
        get_npz = gr.Button("Download .npz", size="sm")
        get_official = gr.Button("Download projected_w.npz", size="sm")
        file_out = gr.File(label="Download", interactive=False, height=90, elem_id="session-download")
    with gr.Row():
        file_in = gr.File(label="Upload a latent (.npz or .pt)", file_types=[".npz", ".pt"], elem_id="session-upload")
        model = ctx.model_dropdown(None, "toyfaces-64", "Made with model")
    with gr.Accordion("Add a generator sample", open=False):
        with gr.Row():
            sample_model = ctx.model_dropdown(None, "toyfaces-64")
            seed = gr.Number(value=0, precision=0, label="Seed", elem_id="session-seed")
            class_name = gr.Textbox(label="Class (BigGAN)")
            add = gr.Button("Add sample", elem_id="session-add-sample")

    def refresh(chosen: str | None, request: gr.Request):
        return shown(ctx, _sid(request), chosen)

    @readable
    def on_rename(old: str, new: str, request: gr.Request):
        return shown(ctx, _sid(request), ctx.latents(_sid(request)).rename(old, new))

    @readable
    def on_delete(latent: str | None, request: gr.Request):
        if latent:  # None: the visitor said no
            ctx.latents(_sid(request)).delete(latent)
        return shown(ctx, _sid(request))

    @readable
    def on_add(model_id: str, n: float, cls: str, request: gr.Request):
        return shown(ctx, _sid(request), add_sample(ctx, _sid(request), model_id, n, cls).name)

    @readable
    def on_upload(path: str, model_id: str, request: gr.Request):
        return shown(ctx, _sid(request), upload(ctx, _sid(request), path, model_id).name)

    @readable
    def on_npz(latent: str, request: gr.Request) -> str:
        return download(ctx, _sid(request), _picked(latent), False)

    @readable
    def on_official(latent: str, request: gr.Request) -> str:
        return download(ctx, _sid(request), _picked(latent), True)

    def on_pick(evt: gr.SelectData, request: gr.Request):
        items = ctx.latents(_sid(request)).items()
        return shown(ctx, _sid(request), items[evt.index].name if evt.index < len(items) else None)[1:]

    def on_choose(latent: str | None, request: gr.Request):
        return shown(ctx, _sid(request), latent)[::2]

    outputs = [gallery, name, details]
    quiet = dict(show_progress="hidden")  # a failure is said in a message, not over the gallery and list
    rename.click(on_rename, [name, new_name], outputs, **quiet)
    delete.click(on_delete, [name], outputs, js=CONFIRM_DELETE, **quiet)
    add.click(on_add, [sample_model, seed, class_name], outputs, **quiet)
    file_in.upload(on_upload, [file_in, model], outputs, **quiet)
    get_npz.click(on_npz, [name], file_out, **quiet)
    get_official.click(on_official, [name], file_out, **quiet)
    gallery.select(on_pick, None, [name, details], **quiet)
    name.input(on_choose, name, [gallery, details], **quiet)
    return refresh, [name], outputs


def _picked(latent: str | None) -> str:
    if not latent:
        raise GanlabError("pick a latent first")
    return latent
