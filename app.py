"""ganlab web app: `python app.py` serves it on http://127.0.0.1:7860 (a Hugging Face Space runs this file)."""

from __future__ import annotations

import os

import gradio as gr

from ganlab import settings
from ganlab.runtime import limit_arenas, map_large_blocks, tune_threads
from ganlab.session import SessionRegistry
from ganlab.ui import align_tab, augment_tab, edit_tab, interpolate_tab, models_tab, project_tab, session_tab
from ganlab.ui.context import AppContext, bind_browser, session_id, unbind_browser




def build_app(ctx: AppContext | None = None) -> gr.Blocks:
    ctx = ctx or AppContext(sessions=SessionRegistry(idle_seconds=settings.session_idle_seconds(),
                                                     root=settings.state_dir()))
    # Gradio's cached uploads and outputs are deleted once older than a day (GANLAB_UPLOAD_CACHE_S).
    age = settings.upload_cache_seconds()
    with gr.Blocks(title="ganlab", delete_cache=(int(min(3600, age / 2)), int(age))) as demo:
        gr.Markdown("# ganlab\nGAN inversion and latent editing in the browser.")
        with gr.Tabs() as tabs:
            with gr.Tab("Align", id="align"):
                align = align_tab.build(ctx)
            with gr.Tab("Project", id="project"):
                project_tab.build(ctx, align, tabs)
            with gr.Tab("Edit", id="edit") as edit:
                refresh_edit, edit_inputs, edit_outputs = edit_tab.build(ctx)
            with gr.Tab("Interpolate", id="interpolate") as interp:
                refresh_interp, interp_inputs, interp_outputs = interpolate_tab.build(ctx)
            with gr.Tab("Augment", id="augment"):
                augment_tab.build(ctx)
            with gr.Tab("Session", id="session") as session:
                refresh_session, session_inputs, session_outputs = session_tab.build(ctx)
            with gr.Tab("Models", id="models"):
                models_tab.build(ctx)

        # The browser keeps a token naming its session, so a reload or a restart finds its latents again.
        token = gr.BrowserState("", storage_key="ganlab-session", secret=settings.browser_secret())

        def restore_session(saved: str, request: gr.Request) -> str:
            token = bind_browser(request, saved)
            ctx.restore(session_id(request))
            return token

        def forget_session(request: gr.Request) -> None:
            sid = unbind_browser(request)
            if sid is not None:  # the last open page of that session: free what it holds in memory
                ctx.forget(sid)

        demo.load(restore_session, inputs=token, outputs=token)
        demo.unload(forget_session)
        edit.select(refresh_edit, inputs=edit_inputs, outputs=edit_outputs, show_progress="hidden")
        interp.select(refresh_interp, inputs=interp_inputs, outputs=interp_outputs, show_progress="hidden")
        session.select(refresh_session, inputs=session_inputs, outputs=session_outputs, show_progress="hidden")
    return demo


if __name__ == "__main__":
    host = os.environ.get("GRADIO_SERVER_NAME", "127.0.0.1")
    port = int(os.environ.get("GRADIO_SERVER_PORT", "7860"))
    tune_threads()
    limit_arenas()  # handler threads share two malloc arenas: what visitors' work frees is reused or returned
    map_large_blocks()  # and big buffers go straight back to the OS when freed
    build_app().queue(default_concurrency_limit=1).launch(server_name=host, server_port=port,
                                                          max_file_size=f"{settings.max_upload_mb()}mb")
