"""Draw what alignment saw (landmarks, boxes) and will cut (FFHQ quads) over the input photo."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from PIL import Image, ImageDraw

from ganlab.align.ffhq import AlignedFace
from ganlab.align.landmarks import Face

COLOURS = [(0, 255, 0), (255, 170, 0), (0, 200, 255), (255, 0, 200), (255, 255, 0), (160, 100, 255)]
COLOUR_NAMES = ["green", "orange", "blue", "pink", "yellow", "violet"]  # what a caption calls COLOURS[i]


def colour_name(i: int) -> str:
    """The name of the colour face `i` is drawn in, for captions that must match the picture."""
    return COLOUR_NAMES[i % len(COLOUR_NAMES)]


def draw_preview(image: Image.Image, faces: Sequence[Face] = (), aligned: Sequence[AlignedFace] = (),
                 max_side: int | None = 1024) -> Image.Image:
    """A copy of `image` (shrunk to max_side so markers stay visible) with each face's box, points and quad.

    Face i and aligned[i] share a colour; the quad's first edge (top of the aligned crop) is drawn
    thicker so rotation is visible.
    """
    img = image.convert("RGB")
    scale = 1.0
    if max_side is not None and max(img.size) > max_side:
        scale = max_side / max(img.size)
        img = img.resize((max(1, round(img.width * scale)), max(1, round(img.height * scale))),
                         Image.Resampling.LANCZOS)
    else:
        img = img.copy()
    draw = ImageDraw.Draw(img)
    width = max(1, round(max(img.size) / 400))
    radius = max(1.0, max(img.size) / 500)

    def to_view(pts: np.ndarray) -> np.ndarray:
        return (np.asarray(pts, dtype=np.float64) + 0.5) * scale - 0.5

    for i, face in enumerate(faces):
        colour = COLOURS[i % len(COLOURS)]
        (l, t), (r, b) = to_view(np.reshape(face.box, (2, 2)))
        draw.rectangle((l, t, r, b), outline=colour, width=width)
        draw.text((l + 2 * width, t + 2 * width), str(i), fill=colour)
        for x, y in to_view(face.points):
            draw.ellipse((x - radius, y - radius, x + radius, y + radius), fill=colour)
    for i, face in enumerate(aligned):
        colour = COLOURS[i % len(COLOURS)]
        quad = [tuple(p) for p in to_view(face.quad)]
        draw.line(quad + [quad[0]], fill=colour, width=width)
        draw.line([quad[3], quad[0]], fill=colour, width=3 * width)
    return img
