"""Augment tab: invert an image into BigGAN, then multiply it into a labelled gallery of latent-space edits."""

from __future__ import annotations


import gradio as gr

from ganlab import settings
from ganlab.augment.transforms import TRANSFORMS
from ganlab.errors import GanlabError
from ganlab.imaging import to_uint8
from ganlab.invert.biggan import InversionConfig, InversionResult, invert
from ganlab.invert.losses import lpips_distance
from ganlab.invert.object_encoder import encoder_start, find_object_encoder
from ganlab.invert.targets import prepare_target
from ganlab.session import StoredLatent
from ganlab.ui.context import AppContext, session_id, side_by_side, upload_name
from ganlab.ui.gpu import gpu


def parse_magnitudes(text: str) -> dict[str, list[float]] | None:
    """'zoom=0.7,1.4; slide_left=0.1,0.2' -> {...}; empty text means each transform's own gallery values."""
    if not text or not text.strip():
        return None
    if len(text) > 2000:
        raise GanlabError("the magnitudes text is too long: a few values per transformation are enough")
    out: dict[str, list[float]] = {}
    for part in text.split(";"):
        if not part.strip():
            continue
        name, _, values = part.partition("=")
        name = name.strip()
        if name not in TRANSFORMS:
            raise GanlabError(f"unknown transformation '{name}' (use one of {', '.join(TRANSFORMS)})")
        try:
            out[name] = [float(v) for v in values.split(",") if v.strip()]
        except ValueError:
            raise GanlabError(f"magnitudes for {name} must be numbers, got '{values.strip()}'") from None
    return out


def build(ctx: AppContext) -> None:
    models = ctx.model_ids("biggan")
    state = gr.State(None, time_to_live=settings.session_idle_seconds())
    with gr.Row():
        with gr.Column(scale=1):
            image = gr.Image(label="Image to augment", type="filepath", image_mode=None, format="png",
                             elem_id="augment-input")
            model = gr.Dropdown(models, value="toyobjects-64", label="BigGAN model")
            ctx.follow_models(model, "biggan")
            cls = gr.Textbox(value="auto", label="Class (name, index, or auto)")
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
    gallery = gr.Gallery(label="Augmentations", columns=6, height=360, elem_id="augment-gallery")
    files = gr.File(label="Downloads (grid PNG, zip with labels.csv)", file_count="multiple", elem_id="augment-files")

    @gpu(duration=120)
    def run_invert(request: gr.Request, picture: str | None, model_id: str, class_query: str, n_steps: float,
                   start_from_encoder: bool):
        if picture is None:
            raise gr.Error("Add an image first.")
        try:
            net = ctx.model(session_id(request), model_id)
            target = prepare_target(picture, net.resolution, name=upload_name(picture))
            query = class_query.strip() or "auto"
            encoder = find_object_encoder(net) if start_from_encoder else None
            if start_from_encoder and encoder is None:
                gr.Warning(f"There is no encoder for {model_id}: starting from random z instead.")
            init = None if encoder is None else encoder_start(encoder, net, target.img, query)
            runner = invert(net, target.img.to(net.device), query, InversionConfig(num_steps=int(n_steps)),
                            distance=lpips_distance(net.device), init=init)
            target_u8 = to_uint8(target.img)[0]
            for rec in runner:
                if isinstance(rec, InversionResult):
                    m = rec.metrics[0]
                    store = ctx.sessions.get(session_id(request))
                    latent = store.add(StoredLatent(f"{rec.class_names[0]}", model_id, "z", rec.z[:1].cpu(),
                                                    c=rec.c[:1].cpu(), thumbnail=rec.images[0], metrics=m,
                                                    source="upload"), net)
                    done = (f"**Inverted** as class **{rec.class_names[0]}** · PSNR {m['psnr']:.2f} dB · "
                            f"SSIM {m['ssim']:.3f}. Now choose transformations and make a gallery.")
                    if ctx.registry.get(model_id).caveat:
                        done += f"\n\nNote: {ctx.registry.get(model_id).caveat}"
                    yield side_by_side(target_u8, rec.images[0]), done, latent
                    return
                preview = rec.preview[0] if rec.preview is not None else target_u8 * 0
                note = f" · {rec.note}" if rec.note else ""
                yield (side_by_side(target_u8, preview),
                       f"Step {rec.step} / {rec.total} · loss: {rec.distance_name}{note}", gr.skip())
        except GanlabError as err:
            raise gr.Error(str(err)) from None

    @gpu(duration=120)
    def run_gallery(request: gr.Request, inverted: StoredLatent | None, names: list[str], magnitude_text: str,
                    n_samples: float, progress: gr.Progress = gr.Progress()):
        if not inverted:
            raise gr.Error("Invert an image first.")
        if not names:
            raise gr.Error("Choose at least one transformation.")
        try:
            lab = ctx.lab(session_id(request), inverted.model_id)
            progress(0.1, desc="rendering the augmentations")
            result = lab.augment(inverted, names, parse_magnitudes(magnitude_text), samples=int(n_samples))
        except GanlabError as err:
            raise gr.Error(str(err)) from None
        for note in result.notes:
            gr.Info(note)
        folder = ctx.temp_dir(session_id(request))
        files = [result.save_grid(folder / "augmentations.png"), result.save_zip(folder / "augmentations.zip")]
        shown = [(a.image, f"{a.transform} {a.magnitude:g}") for a in result.augmentations]
        return shown, [str(f) for f in files]

    go.click(run_invert, [image, model, cls, steps, use_encoder], [view, status, state], concurrency_limit=1,
             concurrency_id="gpu")
    make.click(run_gallery, [state, transforms, magnitudes, samples], [gallery, files], concurrency_limit=1,
               concurrency_id="gpu")
