"""ganlab: GAN inversion and latent editing, as a library that the app and the CLI share.

    import ganlab
    lab = ganlab.load("toyfaces-64")
    face = ganlab.align_faces("photo.jpg")[0]
    inv = lab.invert(face)

The names below load on first use, so `python -m ganlab models` stays quick. (`ganlab.align` is the
alignment package; `align_faces` is its one-call front.)
"""

__version__ = "0.1.0"
__all__ = ["Face", "Inversion", "Lab", "align_faces", "load"]


def __getattr__(name: str):
    if name in __all__:
        import ganlab.lab

        return getattr(ganlab.lab, name)
    raise AttributeError(f"module 'ganlab' has no attribute {name!r}")
