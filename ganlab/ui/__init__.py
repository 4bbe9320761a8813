"""Gradio front end: one module per tab. Handlers are thin calls into the library."""
