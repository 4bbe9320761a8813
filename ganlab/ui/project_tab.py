"""Project tab: invert an image into a StyleGAN2 model and watch the reconstruction converge live."""

from __future__ import annotations

import itertools
import threading

import gradio as gr
import numpy as np
import pandas as pd
import torch

from ganlab.align import load_image
from ganlab.align.images import ImageSource
from ganlab.errors import GanlabError
from ganlab.imaging import to_uint8
from ganlab.invert.advice import long_run_warning
from ganlab.invert.losses import Distance, lpips_distance
from ganlab.invert.methods import invert, result_space
from ganlab.invert.outputs import stored_latent
from ganlab.invert.projector import ProjectionConfig, ProjectionResult, ProjectionState, project, settings_config
from ganlab.invert.targets import prepare_target
from ganlab.models.stylegan2_model import StyleGAN2Model
from ganlab.session import PhotoOrigin
from ganlab.ui.context import AppContext, session_id, side_by_side, upload_name
from ganlab.ui.gpu import gpu

SPACES = {"W+ (one w per layer)": "w+", "W (one w)": "w", "W, then W+": "w-then-w+"}
# label -> (method, projector settings); the encoder methods always refine with the tuned settings
METHODS = {"Optimise from the mean w (official settings)": ("projector", "official"),
           "Optimise from the mean w (tuned: sharper in fewer steps)": ("projector", "tuned"),
           "Encoder only (instant)": ("fast", "official"), "Encoder + 100 steps": ("balanced", "official"),
           "Encoder + 500 steps": ("best", "official"), "Landscape map (uses Steps)": ("landscape", "official")}
DEFAULT_STEPS = 1000 if torch.cuda.is_available() else 200
ZEROGPU_SECONDS = 120  # the ZeroGPU slot each GPU call requests
CHUNK_SECONDS = 90     # a projector call pauses after this long; the next call resumes it in a fresh slot


@gpu(duration=ZEROGPU_SECONDS)
def _projector_call(model, target, cfg, init_ws, distance, cancel, state, pause_after_s):
    yield from project(model, target, cfg, init_ws=init_ws, distance=distance, cancel=cancel, resume=state,
                       pause_after_s=pause_after_s)


def chunked_project(model: StyleGAN2Model, target: torch.Tensor, cfg: ProjectionConfig,
                    init_ws: torch.Tensor | None = None, distance: Distance | None = None,
                    cancel: threading.Event | None = None, pause_after_s: float = CHUNK_SECONDS):
    """`project` as a series of GPU calls of bounded length, so long runs fit ZeroGPU's slot limit."""
    state = None
    while True:
        for rec in _projector_call(model, target, cfg, init_ws, distance, cancel, state, pause_after_s):
            if isinstance(rec, ProjectionState):
                state = rec
                break
            yield rec
        else:
            return


@gpu(duration=ZEROGPU_SECONDS)
def _one_call(model, target, method, space, cfg, distance, cancel):
    yield from invert(model, target, method, space, cfg, distance=distance, cancel=cancel)


def _records(model, target, method, space, cfg, distance, cancel):
    """The run's records: the projector in chunks; the encoder and landscape methods (short) in one call."""
    if method == "projector":
        return invert(model, target, method, space, cfg, distance=distance, cancel=cancel, run=chunked_project)
    return _one_call(model, target, method, space, cfg, distance, cancel)


def _status(step: int, total: int, eta: float, distance_name: str, why: str, notes: list[str]) -> str:
    lines = [f"**Step {step} / {total}** · about {eta:.0f} s left · loss: {distance_name}"]
    if why:
        lines.append(f"LPIPS is not in use: {why}.")
    lines += [f"Note: {n}" for n in notes]
    return "\n\n".join(lines)


def run_projection(ctx: AppContext, image: ImageSource | None, model_id: str, method_label: str, space_label: str,
                   steps: float, name: str, request: gr.Request):
    """Stream (side-by-side image, loss curve, status) while projecting; store the result in the session.

    `image` is the uploaded file's path in the app, so ganlab's own loader reads its pixels.
    """
    if image is None:
        raise gr.Error("Add a target image first (or send one from the Align tab).")
    session = session_id(request)
    try:
        model = ctx.model(session, model_id)
        if model.kind != "stylegan2":
            raise GanlabError(f"{model_id} is not a StyleGAN2 model")
        photo = load_image(image, name=upload_name(image))
        target = prepare_target(photo, model.resolution)
        caveat = ctx.registry.get(model_id, viewer=session).caveat
    except GanlabError as err:
        raise gr.Error(str(err)) from None
    (method, settings), space = METHODS[method_label], SPACES[space_label]
    cfg = settings_config(settings, num_steps=int(steps), preview_every=5)
    cancel = ctx.cancel_event(session)  # armed at the click, so a Stop while queued is seen here
    if cancel.is_set():
        yield gr.skip(), gr.skip(), "**Stopped** before it started (it was still waiting in the queue)."
        return
    distance = lpips_distance(model.device)
    img = target.img.to(model.device)
    target_u8 = to_uint8(img)[0]
    current, history = target_u8 * 0, []
    try:
        runner = _records(model, img, method, space, cfg, distance, cancel)
        first = next(runner)
    except GanlabError as err:
        raise gr.Error(str(err)) from None
    for rec in itertools.chain([first], runner):
        if isinstance(rec, ProjectionResult):
            yield _finish(ctx, session, rec, target_u8, model_id, result_space(method, space),
                          name or "projection", history, ctx.origin_of(session, photo), caveat)
            return
        history.append({"step": rec.step, "distance": rec.losses["distance"]})
        if rec.preview is not None:
            current = rec.preview[0]
        warning = long_run_warning(rec)
        yield (side_by_side(target_u8, current), pd.DataFrame(history),
               _status(rec.step, rec.total, rec.eta_s, rec.distance_name, rec.note,
                       target.notes + ([caveat] if caveat else []) + ([warning] if warning else [])))


def _finish(ctx: AppContext, session: str, result: ProjectionResult, target_u8: np.ndarray, model_id: str,
            space: str, name: str, history: list[dict], origin: PhotoOrigin | None, caveat: str = ""):
    store = ctx.sessions.get(session)
    latent = stored_latent(result, 0, model_id, space, name, thumbnail=result.images[0])
    latent.origin = origin
    latent = store.add(latent)
    m = result.metrics[0]
    lines = [f"**Done** after {result.steps_run} steps" + (f" ({result.stopped})" if result.stopped else "") + ".",
             f"PSNR {m['psnr']:.2f} dB · SSIM {m['ssim']:.3f} · {result.distance_name} {m['distance']:.4f}",
             f"Stored in this session as **{latent.name}** ({latent.space}); edit or interpolate it in the other tabs."]
    if caveat:
        lines.append(f"Note: {caveat}")
    return side_by_side(target_u8, result.images[0]), pd.DataFrame(history), "\n\n".join(lines)


def build(ctx: AppContext) -> gr.Image:
    """Declare the tab; returns the target image component (the Align tab sends faces into it)."""
    models = ctx.model_ids("stylegan2")
    with gr.Row():
        with gr.Column(scale=1):
            target = gr.Image(label="Target (an aligned face works best)", type="filepath", image_mode=None,
                              format="png", elem_id="project-target")
            model = gr.Dropdown(models, value="toyfaces-64", label="Model")
            ctx.follow_models(model, "stylegan2")
            method = gr.Radio(list(METHODS), value=next(iter(METHODS)), label="Method",
                              info="The encoder and landscape map are trained per model "
                                   "(the bundled face model has both)")
            space = gr.Radio(list(SPACES), value=next(iter(SPACES)), label="Latent space (optimising)")
            steps = gr.Slider(10, 1000, value=DEFAULT_STEPS, step=10, label="Steps", elem_id="project-steps")
            name = gr.Textbox(value="projection", label="Store the result as", elem_id="project-name")
            with gr.Row():
                start = gr.Button("Start", variant="primary", elem_id="project-start")
                stop = gr.Button("Stop", variant="stop", elem_id="project-stop")
        with gr.Column(scale=2):
            view = gr.Image(label="Target | reconstruction", type="numpy", interactive=False, elem_id="project-view")
            curve = gr.LinePlot(x="step", y="distance", label="Loss", height=220)
            status = gr.Markdown(elem_id="project-status")

    def start_run(image, model_id, method_label, space_label, n_steps, store_as, request: gr.Request):
        yield from run_projection(ctx, image, model_id, method_label, space_label, n_steps, store_as, request)

    def arm(request: gr.Request) -> None:
        """At the click, before the queue: a Stop from now on reaches this run, queued or running."""
        ctx.new_cancel(session_id(request))

    def stop_run(request: gr.Request) -> None:
        ctx.cancel(session_id(request))

    start.click(arm, queue=False).then(start_run, inputs=[target, model, method, space, steps, name],
                                       outputs=[view, curve, status], concurrency_limit=1, concurrency_id="gpu")
    stop.click(stop_run, queue=False)
    return target
