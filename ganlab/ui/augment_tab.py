"""Augment tab: invert an image into BigGAN, then multiply it into a labelled gallery of latent-space edits."""

from __future__ import annotations

import shutil

import gradio as gr
import numpy as np

from ganlab.augment.gallery import parse_magnitudes
from ganlab.batch import BatchJob, BatchProgress, run_batch
from ganlab.batch.archive import MAX_IMAGES, pack_folder, unpack_images
from ganlab.augment.transforms import TRANSFORMS
from ganlab.errors import GanlabError
from ganlab.imaging import to_uint8
from ganlab.invert.losses import lpips_distance
from ganlab.lab import Inversion
from ganlab.models.registry import status
from ganlab.ui.context import (AppContext, image_file, readable, relay, session_id, side_by_side, upload_name,
                               without_paths)
from ganlab.ui.gpu import gpu


def class_choices(ctx: AppContext, session: str, model_id: str) -> list[str]:
    """'auto' and the model's class names (searchable in the page); just 'auto' while its weights are not
    on disk (choosing a model never starts a download: inverting does, with its progress shown)."""
    try:
        if status(ctx.registry.get(model_id, viewer=session)).state != "ready":
            return ["auto"]
        return ["auto"] + ctx.lab(session, model_id).classes
    except GanlabError:
        return ["auto"]


def augment_folder(ctx: AppContext, session: str, zipped: str | None, model_id: str, class_query: str,
                   n_steps: float, start_from_encoder: bool, names: list[str], magnitude_text: str):
    """The CLI's `batch augment` for a small folder: the same pipeline and manifest, in this process with
    the model the tab already uses; (status, download) after each image, then a zip of everything."""
    if not zipped:
        raise GanlabError("upload a zip of images first")
    if not names:
        raise GanlabError("choose at least one transformation")
    visit = ctx.visit(session)
    cancel = visit.cancel_event()  # armed at the click: the tab's Stop reaches this run
    work = visit.temp_dir()
    src = unpack_images(zipped, work / "images")  # checked before any model is loaded
    lab = yield from relay(ctx.lab_loading(session, model_id), lambda line: (line, gr.skip()))
    job = BatchJob(model_id, task="augment", method="encoder" if start_from_encoder else "random",
                   steps=int(n_steps), cls=(class_query or "").strip() or "auto", transforms=tuple(names),
                   magnitudes_for=parse_magnitudes(magnitude_text))
    for rec in run_batch(job, src, work / "augmented", lab=lab, cancel=cancel):
        if isinstance(rec, BatchProgress):
            failed = f" · {rec.failed} failed" if rec.failed else ""
            yield (f"**{rec.done} / {rec.total}** images · {rec.images_per_s:.2f} img/s · about "
                   f"{rec.eta_s:.0f} s left{failed}", gr.skip())
            continue
        shutil.rmtree(src, ignore_errors=True)  # the visitor's images are not kept once used
        stopped = " (stopped: the images finished so far are in the zip)" if cancel.is_set() else ""
        lines = [f"**Done**: {rec.done} of {rec.sources} images{stopped}."]
        lines += [f"{row['source']}: {without_paths(row['message'])}" for row in rec.failed]
        yield "\n\n".join(lines), str(pack_folder(work / "augmented", work / "augmented.zip"))


def build(ctx: AppContext) -> None:
    inverted = gr.State("")  # the name of the latent the last inversion stored
    with gr.Row():
        with gr.Column(scale=1):
            image = image_file(label="Image to augment", elem_id="augment-input")
            model = ctx.model_dropdown("biggan", "toyobjects-64", "BigGAN model")
            cls = gr.Dropdown(class_choices(ctx, "", "toyobjects-64"), value="auto", allow_custom_value=True,
                              filterable=True, label="Class (type to search; a name, an index, or auto)",
                              elem_id="augment-class")
            steps = gr.Slider(20, 1000, value=150, step=10, label="Inversion steps", elem_id="augment-steps")
            use_encoder = gr.Checkbox(value=True, label="Start from the encoder's guess",
                                      info="Its z and class, refined by the steps above; random starts otherwise")
            go = gr.Button("Invert", variant="primary", elem_id="augment-invert")
        with gr.Column(scale=2):
            view = gr.Image(label="Target | reconstruction", type="numpy", interactive=False)
            status = gr.Markdown(elem_id="augment-status")
    with gr.Row():
        transforms = gr.CheckboxGroup(list(TRANSFORMS), value=["zoom", "slide_left", "slide_right"],
                                      label="Transformations")
        magnitudes = gr.Textbox(label="Magnitudes (optional)", placeholder="zoom=0.7,1.4; slide_left=0.1,0.25")
        samples = gr.Slider(1, 6, value=2, step=1, label="Samples per magnitude")
        make = gr.Button("Make gallery", variant="primary", elem_id="augment-make")
    gallery = gr.Gallery(label="Augmentations", columns=6, height=360, fit_columns=False, elem_id="augment-gallery")
    files = gr.File(label="Downloads (grid PNG, zip with labels.csv)", file_count="multiple", elem_id="augment-files")
    with gr.Accordion(f"A folder of images (a zip of up to {MAX_IMAGES}): each inverted, then augmented with the "
                      "transformations above", open=False):
        with gr.Row():
            archive = gr.File(label="Zip of images", file_types=[".zip"], height=120, elem_id="augment-zip")
            folder_go = gr.Button("Augment the folder", variant="primary", elem_id="augment-folder")
            folder_stop = gr.Button("Stop", variant="stop", elem_id="augment-folder-stop")
        folder_status = gr.Markdown(elem_id="augment-folder-status")
        folder_files = gr.File(label="Download: every image's latent, reconstruction and augmentations, labels.csv, "
                                     "manifest.parquet", elem_id="augment-folder-files")

    @gpu(duration=120)
    @readable
    def run_invert(request: gr.Request, picture: str | None, model_id: str, class_query: str, n_steps: float,
                   start_from_encoder: bool):
        if picture is None:
            raise GanlabError("add an image first")
        lab = yield from relay(ctx.lab_loading(session_id(request), model_id),
                               lambda line: (gr.skip(), line, gr.skip()))
        target = lab.prepare(picture, name=upload_name(picture))
        target_u8 = to_uint8(target.img)[0]
        runs = lab.invert_steps(target, "encoder" if start_from_encoder else "random",
                                cls=(class_query or "").strip() or "auto", steps=int(n_steps),
                                distance=lpips_distance(lab.model.device))
        for rec in runs:
            if isinstance(rec, Inversion):
                latent = ctx.store(session_id(request), rec.latent)
                m = rec.metrics
                done = (f"**Inverted** as **{lab.classes[int(latent.c[0].argmax())]}** · stored as "
                        f"**{latent.name}** · PSNR {m['psnr']:.2f} dB · SSIM {m['ssim']:.3f}. "
                        "Now choose transformations and make a gallery.")
                if lab.caveat:
                    done += f"\n\nNote: {lab.caveat}"
                yield side_by_side(target_u8, np.asarray(rec.image)), done, latent.name
                return
            preview = rec.preview[0] if rec.preview is not None else target_u8 * 0
            note = f" · {rec.note}" if rec.note else ""
            yield (side_by_side(target_u8, preview),
                   f"Step {rec.step} / {rec.total} · loss: {rec.distance_name}{note}", gr.skip())

    @gpu(duration=120)
    @readable
    def run_gallery(request: gr.Request, inverted_name: str, names: list[str], magnitude_text: str,
                    n_samples: float, progress: gr.Progress = gr.Progress()):
        if not inverted_name:
            raise GanlabError("invert an image first")
        inverted = ctx.latents(session_id(request)).get(inverted_name)
        if not names:
            raise GanlabError("choose at least one transformation")
        lab = ctx.lab(session_id(request), inverted.model_id)
        progress(0.1, desc="rendering the augmentations")
        result = lab.augment(inverted, names, parse_magnitudes(magnitude_text), samples=int(n_samples))
        for note in result.notes:
            gr.Info(note)
        folder = ctx.visit(session_id(request)).temp_dir()
        files = [result.save_grid(folder / "augmentations.png"), result.save_zip(folder / "augmentations.zip")]
        shown = [(a.image, f"{a.transform} {a.magnitude:g}") for a in result.augmentations]
        return shown, [str(f) for f in files]

    @gpu(duration=600)
    @readable
    def run_folder(request: gr.Request, zipped: str | None, model_id: str, class_query: str, n_steps: float,
                   start_from_encoder: bool, names: list[str], magnitude_text: str):
        yield from augment_folder(ctx, session_id(request), zipped, model_id, class_query, n_steps,
                                  start_from_encoder, names, magnitude_text)

    def on_model(model_id: str, request: gr.Request):
        return gr.Dropdown(choices=class_choices(ctx, session_id(request), model_id), value="auto")

    go.click(run_invert, [image, model, cls, steps, use_encoder], [view, status, inverted], concurrency_limit=1,
             concurrency_id="gpu", show_progress_on=[view])
    make.click(run_gallery, [inverted, transforms, magnitudes, samples], [gallery, files], concurrency_limit=1,
               concurrency_id="gpu", show_progress_on=[gallery])
    model.input(on_model, model, cls, show_progress="hidden")
    def arm(request: gr.Request) -> None:
        ctx.visit(session_id(request)).new_cancel()

    def stop(request: gr.Request) -> None:
        ctx.visit(session_id(request)).cancel()

    folder_go.click(arm, queue=False).then(
        run_folder, [archive, model, cls, steps, use_encoder, transforms, magnitudes], [folder_status, folder_files],
        concurrency_limit=1, concurrency_id="gpu", show_progress_on=[folder_files])
    folder_stop.click(stop, queue=False)
