"""Turn whatever a user hands over (path, bytes, PIL image, array) into an upright RGB uint8 PIL image."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from ganlab.errors import GanlabError

ImageSource = str | Path | bytes | Image.Image | np.ndarray


# Pillow only warns between its limit and twice it; ganlab refuses anything over it, before decoding.
MAX_PIXELS = Image.MAX_IMAGE_PIXELS or 89_478_485


def _open(source: str | Path | bytes, name: str) -> Image.Image:
    try:
        img = Image.open(io.BytesIO(source) if isinstance(source, bytes) else Path(source))
        if img.width * img.height > MAX_PIXELS:  # the header alone says so: nothing decoded yet
            raise GanlabError(f"{name}: {img.width}x{img.height} is {img.width * img.height / 1e6:.0f} megapixels; "
                              f"images up to {MAX_PIXELS / 1e6:.0f} megapixels can be opened")
        img.load()
    except FileNotFoundError as exc:
        raise GanlabError(f"{name}: file not found") from exc
    except IsADirectoryError as exc:
        raise GanlabError(f"{name}: is a folder, not an image file") from exc
    except UnidentifiedImageError as exc:
        raise GanlabError(f"{name}: not an image (or a format Pillow cannot read)") from exc
    except Image.DecompressionBombError as exc:
        raise GanlabError(f"{name}: too many pixels to open safely ({exc})") from exc
    except (OSError, SyntaxError, ValueError) as exc:
        raise GanlabError(f"{name}: the image is damaged or truncated ({exc})") from exc
    return img


def _from_array(arr: np.ndarray, name: str) -> Image.Image:
    """uint8 as is, 16-bit ints scaled from 0..65535, floats taken as 0..1; gray, RGB or RGBA."""
    a = np.asarray(arr)
    if a.ndim == 3 and a.shape[2] == 1:
        a = a[..., 0]
    if a.ndim not in (2, 3) or (a.ndim == 3 and a.shape[2] not in (3, 4)):
        raise GanlabError(f"{name}: an image array must be [H, W], [H, W, 3] or [H, W, 4], got {a.shape}")
    if a.dtype == np.uint16:
        a = np.rint(a / 257.0)
    elif a.dtype.kind == "f":
        a = np.rint(np.nan_to_num(a) * 255.0)
    elif a.dtype.kind == "b":
        a = a * 255
    a = np.clip(a, 0, 255).astype(np.uint8)
    return Image.fromarray(a)


def _flatten_alpha(img: Image.Image) -> Image.Image:
    """Composite on white: transparent pixels often hold arbitrary colour that would confuse the detector."""
    rgba = img.convert("RGBA")
    white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
    return Image.alpha_composite(white, rgba).convert("RGB")


def to_rgb8(img: Image.Image) -> Image.Image:
    """RGB uint8 from any Pillow mode; 16/32-bit and float modes are rescaled, not clipped to white."""
    if img.mode == "RGB":
        return img
    if img.mode.startswith("I;16"):
        return Image.fromarray(np.rint(np.asarray(img, dtype=np.float64) / 257.0).astype(np.uint8)).convert("RGB")
    if img.mode == "I":
        a = np.asarray(img, dtype=np.float64)
        if a.max(initial=0) > 255:
            a = a / 257.0
        return Image.fromarray(np.clip(np.rint(a), 0, 255).astype(np.uint8)).convert("RGB")
    if img.mode == "F":
        a = np.nan_to_num(np.asarray(img, dtype=np.float64))
        if a.max(initial=0) <= 1.0:
            a = a * 255.0
        return Image.fromarray(np.clip(np.rint(a), 0, 255).astype(np.uint8)).convert("RGB")
    if img.mode in ("RGBA", "LA", "PA", "RGBa", "La") or (img.mode == "P" and "transparency" in img.info):
        return _flatten_alpha(img)
    return img.convert("RGB")


def load_image(source: ImageSource, name: str | None = None) -> Image.Image:
    """Open and normalise a photo: EXIF orientation applied, converted to RGB uint8.

    Errors are `GanlabError`s naming the file, so a batch can report them and move on.
    """
    label = name or (str(source) if isinstance(source, (str, Path)) else f"<{type(source).__name__}>")
    if isinstance(source, np.ndarray):
        return to_rgb8(_from_array(source, label))
    if isinstance(source, Image.Image):
        img = source
    elif isinstance(source, (str, Path, bytes)):
        img = _open(source, label)
    else:
        raise GanlabError(f"{label}: cannot read an image from a {type(source).__name__}")
    try:
        img = ImageOps.exif_transpose(img)
    except (OSError, ValueError, KeyError, TypeError, SyntaxError):
        pass  # malformed EXIF: keep the pixels as stored rather than refuse the photo
    return to_rgb8(img)


def center_crop_resize(img: Image.Image, size: int) -> Image.Image:
    """The unaligned fallback when no face is found: largest centred square, Lanczos to size x size."""
    img = to_rgb8(img)
    side = min(img.size)
    left, top = (img.width - side) // 2, (img.height - side) // 2
    return img.resize((size, size), Image.Resampling.LANCZOS, box=(left, top, left + side, top + side))
