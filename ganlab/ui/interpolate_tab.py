"""Interpolate tab: morph through two or more stored latents; MP4, GIF and a frame strip to download."""

from __future__ import annotations


import gradio as gr
from PIL import Image

from ganlab.edit.interpolate import EASINGS
from ganlab.errors import GanlabError
from ganlab.ui.context import AppContext, readable, session_id
from ganlab.ui.gpu import gpu

SIZES = {"the model's size": None, "256 px": 256, "512 px": 512}


def make_video(ctx: AppContext, session: str, names: list[str], frames: int, fps: int, easing: str,
               pingpong: bool, size: int | None = None, progress: gr.Progress | None = None
               ) -> tuple[str, Image.Image, list[str]]:
    """Render the morph (frames of `size` px, default the model's) and write MP4 (H.264), GIF and a strip
    PNG; returns (mp4, strip, all files)."""
    if not names or len(names) < 2:
        raise GanlabError("choose at least two stored latents, in the order to visit them")
    store = ctx.latents(session)
    items = [store.get(n) for n in names]
    ctx.visit(session).chosen_for_video = list(names)
    lab = ctx.lab(session, items[0].model_id)
    report = None if progress is None else \
        (lambda rec: progress(rec.done / rec.total, desc=f"rendering frame {rec.done} of {rec.total}"))
    video = lab.interpolate(items, frames=int(frames), easing=easing, pingpong=pingpong, fps=fps, size=size,
                            callback=report)
    folder = ctx.visit(session).temp_dir()
    stem = "-".join(names)[:60]
    files = [video.save(folder / f"{stem}.mp4"), video.save(folder / f"{stem}.gif")]
    strip = video.strip()
    strip.save(folder / f"{stem}-strip.png")
    return str(files[0]), strip, [str(f) for f in files] + [str(folder / f"{stem}-strip.png")]


def preselect(ctx: AppContext, session: str, shown: list[str]) -> list[str] | None:
    """What the latent list should hold when the tab opens: what it holds now, else what the visitor last
    made a video of, else the two latest latents; names no longer stored are left out."""
    names = ctx.latents(session).names()
    for choice in (shown, ctx.visit(session).chosen_for_video):
        kept = [n for n in choice if n in names]
        if kept:
            return kept
    return names[-2:] if len(names) >= 2 else None


def build(ctx: AppContext):
    """Declare the tab; returns (refresh handler, its inputs, its outputs) for when the tab opens."""
    gr.Markdown("Pick two or more latents from this session (in order). W/W+ latents are blended linearly, "
                "BigGAN z spherically. Latents made by pivotal tuning carry their own generator weights: those "
                "are blended in the same proportion as the latents (a latent without tuning counts as none), so "
                "each end looks as it does alone.")
    names = gr.Dropdown([], multiselect=True, label="Latents, in order", elem_id="interp-latents")
    with gr.Row():
        frames = gr.Slider(2, 240, value=48, step=1, label="Frames", elem_id="interp-frames")
        fps = gr.Slider(1, 60, value=24, step=1, label="Frames per second")
        easing = gr.Dropdown(list(EASINGS), value="ease-in-out", label="Easing")
        pingpong = gr.Checkbox(value=True, label="Ping-pong loop")
        size = gr.Dropdown(list(SIZES), value=next(iter(SIZES)), label="Frame size", elem_id="interp-size")
    go = gr.Button("Make video", variant="primary", elem_id="interp-run")
    with gr.Row():
        video = gr.Video(label="Interpolation", elem_id="interp-video", autoplay=True, loop=True)
        strip = gr.Image(label="Frame strip", type="pil", interactive=False)
    files = gr.File(label="Downloads (MP4, GIF, strip)", file_count="multiple", elem_id="interp-files")

    def refresh(chosen: list[str] | None, request: gr.Request):
        return gr.Dropdown(choices=ctx.latents(session_id(request)).names(),
                           value=preselect(ctx, session_id(request), chosen or []))

    @gpu(duration=60)
    @readable
    def run(chosen: list[str], n: float, rate: float, ease: str, loop: bool, size_label: str, request: gr.Request,
            progress: gr.Progress = gr.Progress()):
        return make_video(ctx, session_id(request), chosen, int(n), int(rate), ease, loop, SIZES.get(size_label),
                          progress)

    go.click(run, [names, frames, fps, easing, pingpong, size], [video, strip, files], concurrency_limit=2,
             show_progress_on=[video])
    return refresh, [names], [names]
