"""Procedurally rendered, exactly labelled training data for the demo generators (faces, objects)."""

from ganlab.data.toyfaces import (
    HAIR_COLORS,
    HAIR_STYLES,
    SKIN_TONES,
    FaceAttrs,
    face_labels,
    face_regions,
    item_rng,
    render_face,
    render_faces,
    sample_face_attrs,
)
from ganlab.data.toyobjects import (
    BACKGROUND_KINDS,
    CLASS_NAMES,
    Background,
    ObjectAttrs,
    object_labels,
    object_mask,
    render_background,
    render_object,
    render_objects,
    sample_object_attrs,
)

__all__ = [
    "BACKGROUND_KINDS", "CLASS_NAMES", "HAIR_COLORS", "HAIR_STYLES", "SKIN_TONES",
    "Background", "FaceAttrs", "ObjectAttrs",
    "face_labels", "face_regions", "item_rng", "object_labels", "object_mask",
    "render_background", "render_face", "render_faces", "render_object", "render_objects",
    "sample_face_attrs", "sample_object_attrs",
]
