"""ganlab web app: `python app.py` serves it on http://127.0.0.1:7860 (a Hugging Face Space runs this file)."""

from __future__ import annotations

import os

import gradio as gr

from ganlab.ui import models_tab
from ganlab.ui.context import AppContext


def build_app(ctx: AppContext | None = None) -> gr.Blocks:
    ctx = ctx or AppContext()
    with gr.Blocks(title="ganlab") as demo:
        gr.Markdown("# ganlab\nGAN inversion and latent editing in the browser.")
        with gr.Tab("Models"):
            models_tab.build(ctx)
    return demo


if __name__ == "__main__":
    host = os.environ.get("GRADIO_SERVER_NAME", "127.0.0.1")
    port = int(os.environ.get("GRADIO_SERVER_PORT", "7860"))
    build_app().queue(default_concurrency_limit=1).launch(server_name=host, server_port=port)
