"""Align tab: drop or snap a photo, see landmarks and crop squares, pick a face, send it to Project."""

from __future__ import annotations

from dataclasses import dataclass

import gradio as gr
from PIL import Image

from ganlab.align import NoFaceFound, center_crop_resize, load_image
from ganlab.align.images import ImageSource
from ganlab.align.preview import colour_name
from ganlab.lab import Face, find_faces
from ganlab.ui.context import AppContext, image_file, readable, session_id, upload_name

SIZES = [256, 512, 1024]


def run_align(image: ImageSource | None, backend: str, size: int
              ) -> tuple[Image.Image, list[tuple[Image.Image, str]], str, list[Face | Image.Image]]:
    """-> (preview, gallery of aligned faces with captions, status, the faces: a `Face` each, or a plain
    centre crop when none was found).

    `image` is the uploaded file (the app passes its path, so ganlab's own loader reads the pixels).
    """
    if image is None:
        raise gr.Error("Drop a photo (or use the webcam) first.")
    image = load_image(image, name=upload_name(image))
    try:
        found = find_faces(image, backend=backend, size=int(size))
    except NoFaceFound as err:
        gr.Warning(str(err))
        fallback = center_crop_resize(image, int(size))
        return image, [(fallback, "unaligned (centre crop)")], \
            "No face found: the centre crop can be used unaligned.", [fallback]
    n = len(found.faces)
    captions = [f"face {i} ({colour_name(i)})" for i in range(n)]
    status = (f"{n} face{'s' if n > 1 else ''} found with **{found.backend}** landmarks; "
              + ("the largest (face 0) is selected: click another to choose it." if n > 1 else "ready to project."))
    return found.preview, [(f.image, c) for f, c in zip(found.faces, captions)], status, list(found.faces)


@dataclass
class AlignHandles:
    """What app.py wires to the Project tab: the Send button and the index of the chosen face."""

    send: gr.Button
    chosen: gr.State


def build(ctx: AppContext) -> AlignHandles:
    gr.Markdown("Faces are cropped exactly as FFHQ was (eyes and mouth at fixed places), which StyleGAN2 face "
                "models need. dlib landmarks work offline; FAN is used when its weights are available.")
    chosen = gr.State(0)
    with gr.Row():
        with gr.Column():
            # A path and the file's own mode: ganlab's loader, not Gradio's RGB conversion, reads the pixels.
            photo = image_file(label="Photo", sources=["upload", "webcam", "clipboard"], elem_id="align-input")
            with gr.Row():
                backend = gr.Dropdown(["auto", "dlib", "fan"], value="auto", label="Landmarks")
                size = gr.Dropdown(SIZES, value=1024, label="Aligned size (px)")
            go = gr.Button("Detect and align", variant="primary", elem_id="align-run")
        with gr.Column():
            preview = gr.Image(label="Landmarks and crop squares", type="pil", interactive=False)
            gallery = gr.Gallery(label="Aligned faces (click to choose)", columns=4, height=300,
                                 object_fit="contain", allow_preview=False, fit_columns=False, elem_id="align-faces")
            status = gr.Markdown(elem_id="align-status")
            send = gr.Button("Send to Project", elem_id="align-send")

    @readable
    def align(image, backend: str, size: int, request: gr.Request):  # (API parameter names)
        shown, items, text, faces = run_align(image, backend, size)
        ctx.visit(session_id(request)).faces = faces  # each holds its whole photo: it goes with the session
        return shown, gr.Gallery(value=items, selected_index=0), text, 0

    go.click(align, inputs=[photo, backend, size], outputs=[preview, gallery, status, chosen], api_name="run_align")
    gallery.select(_select, outputs=chosen)
    return AlignHandles(send, chosen)


def _select(evt: gr.SelectData) -> int:
    return int(evt.index)


def chosen_face(ctx: AppContext, session: str, index: int) -> Face | Image.Image:
    """The face the visitor chose in their last alignment (a plain image when no face was found)."""
    faces = ctx.visit(session).faces
    if not faces:
        raise gr.Error("Align a photo first.")
    return faces[min(max(int(index), 0), len(faces) - 1)]
