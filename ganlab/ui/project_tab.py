"""Project tab: invert an image into a StyleGAN2 model and watch the reconstruction converge live."""

from __future__ import annotations

import threading

import gradio as gr
import numpy as np
import pandas as pd
import torch

from ganlab.align.images import ImageSource
from ganlab.errors import GanlabError
from ganlab.imaging import to_uint8
from ganlab.invert.advice import long_run_warning
from ganlab.invert.losses import Distance, lpips_distance
from ganlab.invert.projector import ProjectionConfig, ProjectionState, project
from ganlab.lab import Face, Inversion, Lab
from ganlab.lab.core import Prepared
from ganlab.models.stylegan2_model import StyleGAN2Model
from ganlab.ui.align_tab import AlignHandles, chosen_face
from ganlab.ui.context import AppContext, image_file, readable, relay, session_id, side_by_side, upload_name
from ganlab.ui.gpu import gpu

SPACES = {"W+ (one w per layer)": "w+", "W (one w)": "w", "W, then W+": "w-then-w+"}
# label -> (method, projector settings); the encoder methods always refine with the tuned settings
METHODS = {"Optimise from the mean w (official settings)": ("projector", "official"),
           "Optimise from the mean w (tuned: sharper in fewer steps)": ("projector", "tuned"),
           "Encoder only (instant)": ("fast", "official"), "Encoder + 100 steps": ("balanced", "official"),
           "Encoder + 500 steps": ("best", "official"), "Landscape map (uses Steps)": ("landscape", "official"),
           "Pivotal tuning: most faithful (Steps tune the weights)": ("pti", "official")}
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
def _one_call(lab: Lab, target: Prepared, options: dict):
    yield from lab.invert_steps(target, **options)


def _records(lab: Lab, target: Prepared, options: dict):
    """The run's records: the projector in chunks; the encoder and landscape methods (short) in one call."""
    if options["method"] == "projector":
        return lab.invert_steps(target, **options, run=chunked_project)
    return _one_call(lab, target, options)


def _status(step: int, total: int, eta: float, distance_name: str, note: str, notes: list[str]) -> str:
    """The progress line, then the run's own note (its phase, why LPIPS is not in use), then the target's notes."""
    lines = [f"**Step {step} / {total}** · about {eta:.0f} s left · loss: {distance_name}"]
    if note:
        lines.append(f"{note[0].upper()}{note[1:]}.")
    lines += [f"Note: {n}" for n in notes]
    return "\n\n".join(lines)


def _chart(history: list[dict]) -> gr.LinePlot:
    """The loss curve, shown once there is a curve (an encoder-only run has a single value)."""
    return gr.LinePlot(pd.DataFrame(history, columns=["step", "distance"]), visible=len(history) > 1)


def run_projection(ctx: AppContext, image: ImageSource | None, model_id: str, method_label: str, space_label: str,
                   steps: float, name: str, request: gr.Request):
    """Stream (side-by-side image, loss curve, status) while projecting; store the result in the session.

    The target is the face sent from Align when the visitor has not dropped another image since (so the
    result can be pasted back into its photo), else `image`: the uploaded file's path in the app, so
    ganlab's own loader reads its pixels.
    """
    session = session_id(request)
    visit = ctx.visit(session)
    source = visit.sent or image
    if source is None:
        raise GanlabError("add a target image first (or send one from the Align tab)")
    lab = yield from relay(ctx.lab_loading(session, model_id), lambda line: (gr.skip(), gr.skip(), line))
    if "projector" not in lab.methods:
        raise GanlabError(f"{model_id} is not a StyleGAN2 model: invert BigGAN images in the Augment tab")
    target = lab.prepare(source, name=upload_name(image))
    (method, settings), space = METHODS[method_label], SPACES[space_label]
    cancel = visit.cancel_event()  # armed at the click, so a Stop while queued is seen here
    if cancel.is_set():
        yield gr.skip(), gr.skip(), "**Stopped** before it started (it was still waiting in the queue)."
        return
    options = dict(method=method, space=space, steps=int(steps), settings=settings, preview_every=5,
                   name=name or "projection", distance=lpips_distance(lab.model.device), cancel=cancel)
    target_u8 = to_uint8(target.img)[0]
    notes = target.notes + ([lab.caveat] if lab.caveat else [])
    current, history, distance_name = target_u8 * 0, [], "distance"
    starting = "\n\n".join(["**Starting** ..."] + [f"Note: {n}" for n in notes])
    yield side_by_side(target_u8, current), _chart(history), starting  # the last run's result goes
    for rec in _records(lab, target, options):
        if isinstance(rec, Inversion):
            yield _finish(ctx, session, rec, target_u8, history, distance_name, lab.caveat)
            return
        distance_name = rec.distance_name
        history.append({"step": rec.step, "distance": rec.losses["distance"]})
        if rec.preview is not None:
            current = rec.preview[0]
        warning = long_run_warning(rec)
        yield (side_by_side(target_u8, current), _chart(history),
               _status(rec.step, rec.total, rec.eta_s, rec.distance_name, rec.note,
                       notes + ([warning] if warning else [])))


def _finish(ctx: AppContext, session: str, inv: Inversion, target_u8: np.ndarray, history: list[dict],
            distance_name: str, caveat: str = ""):
    latent = ctx.latents(session).add(inv.latent)
    m = inv.metrics
    lines = [f"**Done** after {inv.steps_run} steps" + (f" ({inv.stopped})" if inv.stopped else "") + ".",
             f"PSNR {m['psnr']:.2f} dB · SSIM {m['ssim']:.3f} · {distance_name} {m['distance']:.4f}",
             f"Stored in this session as **{latent.name}** ({latent.space}); edit or interpolate it in the other tabs."]
    if latent.tuned is not None:
        lines.append(f"It renders through its own tuned generator weights ({latent.tuned.nbytes / 2 ** 10:.0f} KB, "
                     "kept with the latent and in its download); the shared model is unchanged.")
    if inv.origin is not None:
        lines.append("It came from a photo aligned in this session: the Edit tab can paste edits back into it.")
    if caveat:
        lines.append(f"Note: {caveat}")
    return side_by_side(target_u8, np.asarray(inv.image)), _chart(history), "\n\n".join(lines)


def build(ctx: AppContext, align: AlignHandles, tabs: gr.Tabs) -> None:
    """Declare the tab; the Align tab's Send button puts the chosen face here and opens the tab."""
    with gr.Row():
        with gr.Column(scale=1):
            target = image_file(label="Target (an aligned face works best)", elem_id="project-target")
            model = ctx.model_dropdown("stylegan2", "toyfaces-64", elem_id="project-model")
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
            curve = gr.LinePlot(x="step", y="distance", x_title="step", y_title="distance to the target",
                                label="Loss", height=220, visible=False)
            status = gr.Markdown(elem_id="project-status")

    @readable
    def start_run(image, model_id, method_label, space_label, n_steps, store_as, request: gr.Request):
        yield from run_projection(ctx, image, model_id, method_label, space_label, n_steps, store_as, request)

    def arm(request: gr.Request) -> None:
        """At the click, before the queue: a Stop from now on reaches this run, queued or running."""
        ctx.visit(session_id(request)).new_cancel()

    def stop_run(request: gr.Request) -> None:
        ctx.visit(session_id(request)).cancel()

    @readable
    def receive(index: int, request: gr.Request):
        """The face chosen in Align becomes the target; its photo stays with the session for paste-back."""
        visit = ctx.visit(session_id(request))
        face = chosen_face(ctx, session_id(request), index)
        visit.sent = face if isinstance(face, Face) else None
        return (face.image if isinstance(face, Face) else face), gr.Tabs(selected="project")

    def dropped(request: gr.Request) -> None:
        """The visitor put their own image here: it is the target now, not the face from Align."""
        ctx.visit(session_id(request)).sent = None

    start.click(arm, queue=False).then(start_run, inputs=[target, model, method, space, steps, name],
                                       outputs=[view, curve, status], concurrency_limit=1, concurrency_id="gpu",
                                       show_progress_on=[view])
    stop.click(stop_run, queue=False)
    align.send.click(receive, inputs=align.chosen, outputs=[target, tabs], show_progress="hidden")
    target.input(dropped, queue=False)
