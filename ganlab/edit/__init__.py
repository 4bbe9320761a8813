"""Editing: directions in W (learned from labels, GANSpace, SeFa) and moving latents along them."""

from ganlab.edit.apply import LAYER_PRESETS, EditRenderer, edit_ws, layer_indices, render_edit
from ganlab.edit.directions import (
    SHIPPED_ATTRIBUTES,
    Direction,
    LearnedDirection,
    LearnProgress,
    LearnReport,
    condition,
    ganspace,
    learn_direction,
    learn_from_images,
    learn_one_vs_rest,
    load_directions,
    save_directions,
    sefa,
)

__all__ = [
    "LAYER_PRESETS", "SHIPPED_ATTRIBUTES", "Direction", "EditRenderer", "LearnProgress", "LearnReport", "LearnedDirection",
    "condition", "edit_ws", "ganspace", "layer_indices", "learn_direction", "learn_from_images",
    "learn_one_vs_rest", "load_directions", "render_edit", "save_directions", "sefa",
]
