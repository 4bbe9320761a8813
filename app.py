"""ganlab web app: `python app.py` serves it on http://127.0.0.1:7860 (a Hugging Face Space runs this file)."""

from __future__ import annotations

import os

import gradio as gr

from ganlab.runtime import tune_threads
from ganlab.ui import align_tab, augment_tab, edit_tab, interpolate_tab, models_tab, project_tab, session_tab
from ganlab.ui.context import AppContext, session_id


MAX_UPLOAD = "100mb"  # a 6000x4000 photo as PNG fits; larger uploads get Gradio's size message


def build_app(ctx: AppContext | None = None) -> gr.Blocks:
    ctx = ctx or AppContext()
    # Gradio's cached uploads and outputs are deleted hourly once a day old.
    with gr.Blocks(title="ganlab", delete_cache=(3600, 24 * 3600)) as demo:
        gr.Markdown("# ganlab\nGAN inversion and latent editing in the browser.")
        with gr.Tabs() as tabs:
            with gr.Tab("Align", id="align"):
                align = align_tab.build(ctx)
            with gr.Tab("Project", id="project"):
                target = project_tab.build(ctx)
            with gr.Tab("Edit", id="edit") as edit:
                refresh_edit, edit_outputs = edit_tab.build(ctx)
            with gr.Tab("Interpolate", id="interpolate") as interp:
                refresh_interp, interp_outputs = interpolate_tab.build(ctx)
            with gr.Tab("Augment", id="augment"):
                augment_tab.build(ctx)
            with gr.Tab("Session", id="session") as session:
                refresh_session, session_outputs = session_tab.build(ctx)
            with gr.Tab("Models", id="models"):
                models_tab.build(ctx)

        def send_face(faces, index: int, request: gr.Request):
            face, origin = align_tab.chosen_face(faces, index)
            ctx.remember_sent_face(session_id(request), face, origin)
            return face, gr.Tabs(selected="project")

        align.send.click(send_face, inputs=[align.faces, align.chosen], outputs=[target, tabs])
        def forget_session(request: gr.Request) -> None:
            ctx.forget(session_id(request))  # the page closed or reloaded: nothing can reach its state now

        demo.unload(forget_session)
        edit.select(refresh_edit, outputs=edit_outputs)
        interp.select(refresh_interp, outputs=interp_outputs)
        session.select(refresh_session, outputs=session_outputs)
    return demo


if __name__ == "__main__":
    host = os.environ.get("GRADIO_SERVER_NAME", "127.0.0.1")
    port = int(os.environ.get("GRADIO_SERVER_PORT", "7860"))
    tune_threads()  # the allocator stays glibc's: a public app returns freed memory to the machine
    build_app().queue(default_concurrency_limit=1).launch(server_name=host, server_port=port,
                                                          max_file_size=MAX_UPLOAD)
