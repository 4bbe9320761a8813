"""Project tab: invert an image into a StyleGAN2 model and watch the reconstruction converge live."""

from __future__ import annotations

import gradio as gr
import numpy as np
import pandas as pd
import torch
from PIL import Image

from ganlab.errors import GanlabError
from ganlab.imaging import to_uint8
from ganlab.invert.losses import lpips_distance
from ganlab.invert.outputs import stored_latent
from ganlab.invert.projector import ProjectionConfig, ProjectionResult, project, project_w_then_w_plus
from ganlab.invert.targets import prepare_target
from ganlab.session import PhotoOrigin
from ganlab.ui.context import AppContext, session_id, side_by_side
from ganlab.ui.gpu import gpu

SPACES = {"W+ (one w per layer)": "w+", "W (one w)": "w", "W, then W+": "w-then-w+"}
DEFAULT_STEPS = 1000 if torch.cuda.is_available() else 200
ZEROGPU_SECONDS = 120  # per-call ZeroGPU slot requested; runs needing longer are not yet split into chunks


def _status(step: int, total: int, eta: float, distance_name: str, why: str, notes: list[str]) -> str:
    lines = [f"**Step {step} / {total}** · about {eta:.0f} s left · loss: {distance_name}"]
    if why:
        lines.append(f"LPIPS is not in use: {why}.")
    lines += [f"Note: {n}" for n in notes]
    return "\n\n".join(lines)


def run_projection(ctx: AppContext, image: Image.Image | None, model_id: str, space_label: str, steps: float,
                   name: str, request: gr.Request):
    """Stream (side-by-side image, loss curve, status) while projecting; store the result in the session."""
    if image is None:
        raise gr.Error("Add a target image first (or send one from the Align tab).")
    session = session_id(request)
    try:
        model = ctx.pool.get(model_id)
        if model.kind != "stylegan2":
            raise GanlabError(f"{model_id} is not a StyleGAN2 model")
        target = prepare_target(image, model.resolution)
    except GanlabError as err:
        raise gr.Error(str(err)) from None
    space = SPACES[space_label]
    cfg = ProjectionConfig(num_steps=int(steps), space="w" if space == "w" else "w+", preview_every=5)
    cancel = ctx.new_cancel(session)
    distance = lpips_distance(model.device)
    img = target.img.to(model.device)
    runner = project_w_then_w_plus(model, img, cfg, distance=distance, cancel=cancel) if space == "w-then-w+" \
        else project(model, img, cfg, distance=distance, cancel=cancel)
    target_u8 = to_uint8(img)[0]
    current, history = target_u8 * 0, []
    for rec in runner:
        if isinstance(rec, ProjectionResult):
            yield _finish(ctx, session, rec, target_u8, model_id, cfg.space, name or "projection", history,
                          ctx.origin_of(session, image))
            return
        history.append({"step": rec.step, "distance": rec.losses["distance"]})
        if rec.preview is not None:
            current = rec.preview[0]
        yield (side_by_side(target_u8, current), pd.DataFrame(history),
               _status(rec.step, rec.total, rec.eta_s, rec.distance_name, rec.note, target.notes))


def _finish(ctx: AppContext, session: str, result: ProjectionResult, target_u8: np.ndarray, model_id: str,
            space: str, name: str, history: list[dict], origin: PhotoOrigin | None):
    store = ctx.sessions.get(session)
    latent = stored_latent(result, 0, model_id, space, name, thumbnail=result.images[0])
    latent.origin = origin
    latent = store.add(latent)
    m = result.metrics[0]
    lines = [f"**Done** after {result.steps_run} steps" + (f" ({result.stopped})" if result.stopped else "") + ".",
             f"PSNR {m['psnr']:.2f} dB · SSIM {m['ssim']:.3f} · {result.distance_name} {m['distance']:.4f}",
             f"Stored in this session as **{latent.name}** ({latent.space}); edit or interpolate it in the other tabs."]
    return side_by_side(target_u8, result.images[0]), pd.DataFrame(history), "\n\n".join(lines)


def build(ctx: AppContext) -> gr.Image:
    """Declare the tab; returns the target image component (the Align tab sends faces into it)."""
    models = ctx.model_ids("stylegan2")
    with gr.Row():
        with gr.Column(scale=1):
            target = gr.Image(label="Target (an aligned face works best)", type="pil", format="png",
                              elem_id="project-target")
            model = gr.Dropdown(models, value="toyfaces-64", label="Model")
            space = gr.Radio(list(SPACES), value=next(iter(SPACES)), label="Latent space")
            steps = gr.Slider(10, 1000, value=DEFAULT_STEPS, step=10, label="Steps", elem_id="project-steps")
            name = gr.Textbox(value="projection", label="Store the result as")
            with gr.Row():
                start = gr.Button("Start", variant="primary", elem_id="project-start")
                stop = gr.Button("Stop", variant="stop", elem_id="project-stop")
        with gr.Column(scale=2):
            view = gr.Image(label="Target | reconstruction", type="numpy", interactive=False, elem_id="project-view")
            curve = gr.LinePlot(x="step", y="distance", label="Loss", height=220)
            status = gr.Markdown(elem_id="project-status")

    @gpu(duration=ZEROGPU_SECONDS)
    def start_run(image, model_id, space_label, n_steps, store_as, request: gr.Request):
        yield from run_projection(ctx, image, model_id, space_label, n_steps, store_as, request)

    def stop_run(request: gr.Request) -> None:
        ctx.cancel(session_id(request))

    start.click(start_run, inputs=[target, model, space, steps, name], outputs=[view, curve, status],
                concurrency_limit=1, concurrency_id="gpu")
    stop.click(stop_run, queue=False)
    return target
