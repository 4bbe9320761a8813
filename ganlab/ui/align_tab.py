"""Align tab: drop or snap a photo, see landmarks and crop squares, pick a face, send it to Project."""

from __future__ import annotations

from dataclasses import dataclass

import gradio as gr
from PIL import Image

from ganlab import settings
from ganlab.align import NoFaceFound, align_image, center_crop_resize, draw_preview, load_image
from ganlab.align.images import ImageSource
from ganlab.errors import GanlabError
from ganlab.session import PhotoOrigin
from ganlab.ui.context import AppContext, upload_name

SIZES = [256, 512, 1024]


def run_align(image: ImageSource | None, backend: str, size: int):
    """-> (preview, gallery of aligned faces, status, [(aligned face, its PhotoOrigin or None)]).

    `image` is the uploaded file (the app passes its path, so ganlab's own loader reads the pixels).
    """
    if image is None:
        raise gr.Error("Drop a photo (or use the webcam) first.")
    try:
        image = load_image(image, name=upload_name(image))
        result = align_image(image, backend=backend, output_size=int(size))
    except NoFaceFound as err:
        gr.Warning(str(err))
        fallback = center_crop_resize(image, int(size))
        return image, [(fallback, "unaligned (centre crop)")], "No face found: the centre crop can be used unaligned.", \
            [(fallback, None)]
    except GanlabError as err:
        raise gr.Error(str(err)) from None
    faces = [f.image for f in result.faces]
    preview = draw_preview(result.image, result.detection.faces, result.faces)
    n = len(faces)
    status = (f"{n} face{'s' if n > 1 else ''} found with **{result.detection.backend}** landmarks; "
              + ("the largest is selected — click another to choose it." if n > 1 else "ready to project."))
    chosen = [(f.image, PhotoOrigin(result.image, f)) for f in result.faces]
    return preview, [(img, f"face {i}") for i, img in enumerate(faces)], status, chosen


@dataclass
class AlignHandles:
    """What app.py wires to the Project tab: the Send button and the chosen aligned face."""

    send: gr.Button
    faces: gr.State
    chosen: gr.State


def build(ctx: AppContext) -> AlignHandles:
    gr.Markdown("Faces are cropped exactly as FFHQ was (eyes and mouth at fixed places), which StyleGAN2 face "
                "models need. dlib landmarks work offline; FAN is used when its weights are available.")
    # It holds the whole photo (for paste-back): it goes when the session does.
    faces_state = gr.State([], time_to_live=settings.session_idle_seconds())
    chosen = gr.State(0)
    with gr.Row():
        with gr.Column():
            # A path and the file's own mode: ganlab's loader, not Gradio's RGB conversion, reads the pixels.
            photo = gr.Image(label="Photo", type="filepath", image_mode=None, format="png",
                             sources=["upload", "webcam", "clipboard"], elem_id="align-input")
            with gr.Row():
                backend = gr.Dropdown(["auto", "dlib", "fan"], value="auto", label="Landmarks")
                size = gr.Dropdown(SIZES, value=1024, label="Aligned size (px)")
            go = gr.Button("Detect and align", variant="primary", elem_id="align-run")
        with gr.Column():
            preview = gr.Image(label="Landmarks and crop squares", type="pil", interactive=False)
            gallery = gr.Gallery(label="Aligned faces (click to choose)", columns=4, height=260, elem_id="align-faces")
            status = gr.Markdown(elem_id="align-status")
            send = gr.Button("Send to Project", elem_id="align-send")
    go.click(run_align, inputs=[photo, backend, size], outputs=[preview, gallery, status, faces_state]) \
        .then(lambda: 0, outputs=chosen)
    gallery.select(_select, outputs=chosen)
    return AlignHandles(send, faces_state, chosen)


def _select(evt: gr.SelectData) -> int:
    return int(evt.index)


def chosen_face(faces: list[tuple[Image.Image, PhotoOrigin | None]], index: int
                ) -> tuple[Image.Image, PhotoOrigin | None]:
    if not faces:
        raise gr.Error("Align a photo first.")
    return faces[min(index, len(faces) - 1)]
