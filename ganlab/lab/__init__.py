"""The front door: `load` a model into a `Lab`, `align_faces` of a photo, then invert, edit, render,
interpolate and augment through the Lab's methods."""

from ganlab.lab.core import Inversion, Lab, load
from ganlab.lab.faces import Alignment, Face, align_faces, find_faces

__all__ = ["Alignment", "Face", "Inversion", "Lab", "align_faces", "find_faces", "load"]
