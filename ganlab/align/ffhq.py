"""The FFHQ alignment recipe (NVlabs `recreate_aligned_images`) and the way back into the photo.

The arithmetic mirrors the official function operation by operation, dtypes included (float32
image, float64 mask, in-place updates), because a StyleGAN trained on FFHQ expects faces cropped
exactly like its training set; the golden tests hold it to the official output.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import scipy.ndimage
from PIL import Image

from ganlab.align.images import load_image, to_rgb8
from ganlab.errors import GanlabError

Box = tuple[int, int, int, int]


@dataclass(frozen=True)
class RecipeSteps:
    """Every intermediate of the recipe, named like the golden JSON so each can be checked on its own.

    Quads are [4, 2] (x, y) corners in the order top-left, bottom-left, bottom-right, top-right,
    in pixel-index coordinates of the image at that stage.
    """

    eye_left: np.ndarray
    eye_right: np.ndarray
    eye_avg: np.ndarray
    eye_to_eye: np.ndarray
    mouth_left: np.ndarray
    mouth_right: np.ndarray
    mouth_avg: np.ndarray
    eye_to_mouth: np.ndarray
    x: np.ndarray
    y: np.ndarray
    c0: np.ndarray
    quad_initial: np.ndarray
    qsize_initial: float
    shrink: int
    shrink_applied: bool
    rsize: tuple[int, int] | None
    quad_after_shrink: np.ndarray
    qsize_after_shrink: float
    border: int
    crop: Box
    crop_applied: bool
    quad_after_crop: np.ndarray
    pad_raw: Box
    padding_applied: bool
    pad_final: Box | None
    blur: float | None
    quad_final: np.ndarray
    source_size: tuple[int, int]
    pre_transform_size: tuple[int, int]


@dataclass(frozen=True)
class AlignedFace:
    """An FFHQ-aligned face plus what is needed to draw its crop or paste an edit back."""

    image: Image.Image
    landmarks: np.ndarray
    steps: RecipeSteps
    output_size: int
    transform_size: int

    @property
    def quad(self) -> np.ndarray:
        """The crop square in the source photo (pixel-index coordinates, TL, BL, BR, TR)."""
        return self.steps.quad_initial

    def square_to_source(self, n: int | None = None) -> np.ndarray:
        """3x3 matrix taking pixel (col, row) of an n x n version of the aligned face to the source photo.

        n defaults to output_size; any n works because the aligned square is resolution-free
        (e.g. a 256 px GAN output pasted into a face aligned at 1024).
        """
        return _square_to_source(self.steps, n or self.output_size)


def oriented_quad(landmarks: np.ndarray) -> dict[str, np.ndarray | float]:
    """Step 1: the rotated square from eye and mouth landmarks (iBUG-68 order)."""
    lm = np.asarray(landmarks, dtype=np.float64)
    if lm.shape != (68, 2):
        raise GanlabError(f"FFHQ alignment needs 68 (x, y) landmarks, got an array of shape {lm.shape}")
    eye_left = np.mean(lm[36:42], axis=0)
    eye_right = np.mean(lm[42:48], axis=0)
    eye_avg = (eye_left + eye_right) * 0.5
    eye_to_eye = eye_right - eye_left
    mouth_left = lm[48]
    mouth_right = lm[54]
    mouth_avg = (mouth_left + mouth_right) * 0.5
    eye_to_mouth = mouth_avg - eye_avg

    x = eye_to_eye + np.array([eye_to_mouth[1], -eye_to_mouth[0]])
    x /= np.hypot(*x)
    x *= max(np.hypot(*eye_to_eye) * 2.0, np.hypot(*eye_to_mouth) * 1.8)
    y = np.array([-x[1], x[0]])
    c0 = eye_avg + eye_to_mouth * 0.1
    quad = np.stack([c0 - x - y, c0 - x + y, c0 + x + y, c0 + x - y])
    return dict(
        eye_left=eye_left, eye_right=eye_right, eye_avg=eye_avg, eye_to_eye=eye_to_eye,
        mouth_left=mouth_left, mouth_right=mouth_right, mouth_avg=mouth_avg, eye_to_mouth=eye_to_mouth,
        x=x, y=y, c0=c0, quad_initial=quad, qsize_initial=float(np.hypot(*x) * 2),
    )


def _bounds(quad: np.ndarray) -> Box:
    return (
        int(np.floor(min(quad[:, 0]))), int(np.floor(min(quad[:, 1]))),
        int(np.ceil(max(quad[:, 0]))), int(np.ceil(max(quad[:, 1]))),
    )


def _reflect_pad_blend(img: Image.Image, pad: np.ndarray, qsize: float) -> Image.Image:
    """Step 4's padding: reflect, then fade the mirrored area to blurred and finally to the median colour."""
    arr = np.pad(np.asarray(img, dtype=np.float32), ((pad[1], pad[3]), (pad[0], pad[2]), (0, 0)), "reflect")
    h, w, _ = arr.shape
    yy, xx, _ = np.ogrid[:h, :w, :1]
    mask = np.maximum(
        1.0 - np.minimum(np.float32(xx) / pad[0], np.float32(w - 1 - xx) / pad[2]),
        1.0 - np.minimum(np.float32(yy) / pad[1], np.float32(h - 1 - yy) / pad[3]),
    )
    blur = qsize * 0.02
    arr += (scipy.ndimage.gaussian_filter(arr, [blur, blur, 0]) - arr) * np.clip(mask * 3.0 + 1.0, 0.0, 1.0)
    arr += (np.median(arr, axis=(0, 1)) - arr) * np.clip(mask, 0.0, 1.0)
    return Image.fromarray(np.uint8(np.clip(np.rint(arr), 0, 255)), "RGB")


def prepare(image: Image.Image, landmarks: np.ndarray, output_size: int = 1024,
            enable_padding: bool = True) -> tuple[Image.Image, RecipeSteps]:
    """Steps 1-4 (quad, shrink, crop, pad): the image handed to the QUAD transform, and the trace."""
    image = to_rgb8(image)
    geo = oriented_quad(landmarks)
    quad = np.array(geo["quad_initial"], copy=True)
    qsize = float(geo["qsize_initial"])
    source_size = image.size
    img = image

    shrink = int(np.floor(qsize / output_size * 0.5))
    rsize = None
    if shrink > 1:
        rsize = (int(np.rint(float(img.size[0]) / shrink)), int(np.rint(float(img.size[1]) / shrink)))
        img = img.resize(rsize, Image.Resampling.LANCZOS)
        quad /= shrink
        qsize /= shrink
    quad_after_shrink, qsize_after_shrink = quad.copy(), qsize

    border = max(int(np.rint(qsize * 0.1)), 3)
    box = _bounds(quad)
    crop = (max(box[0] - border, 0), max(box[1] - border, 0),
            min(box[2] + border, img.size[0]), min(box[3] + border, img.size[1]))
    crop_applied = crop[2] - crop[0] < img.size[0] or crop[3] - crop[1] < img.size[1]
    if crop_applied:
        img = img.crop(crop)
        quad -= crop[0:2]
    quad_after_crop = quad.copy()

    box = _bounds(quad)
    pad_raw = (max(-box[0] + border, 0), max(-box[1] + border, 0),
               max(box[2] - img.size[0] + border, 0), max(box[3] - img.size[1] + border, 0))
    padding_applied = enable_padding and max(pad_raw) > border - 4
    pad_final = blur = None
    if padding_applied:
        pad = np.maximum(pad_raw, int(np.rint(qsize * 0.3)))
        img = _reflect_pad_blend(img, pad, qsize)
        quad += pad[:2]
        pad_final = tuple(int(p) for p in pad)
        blur = qsize * 0.02

    steps = RecipeSteps(
        **geo, shrink=shrink, shrink_applied=shrink > 1, rsize=rsize,
        quad_after_shrink=quad_after_shrink, qsize_after_shrink=qsize_after_shrink,
        border=border, crop=crop, crop_applied=crop_applied, quad_after_crop=quad_after_crop,
        pad_raw=pad_raw, padding_applied=padding_applied, pad_final=pad_final, blur=blur,
        quad_final=quad, source_size=source_size, pre_transform_size=img.size,
    )
    return img, steps


def quad_transform(img: Image.Image, quad_final: np.ndarray, output_size: int = 1024,
                   transform_size: int = 4096) -> Image.Image:
    """Step 5: bilinear QUAD warp at transform_size (supersampling), then Lanczos down to output_size."""
    out = img.transform((transform_size, transform_size), Image.Transform.QUAD,
                        tuple((quad_final + 0.5).flatten()), Image.Resampling.BILINEAR)
    if output_size < transform_size:
        out = out.resize((output_size, output_size), Image.Resampling.LANCZOS)
    return out


def align_face(image: Image.Image, landmarks: np.ndarray, output_size: int = 1024,
               transform_size: int = 4096, enable_padding: bool = True) -> AlignedFace:
    """Crop one face from an RGB photo exactly as FFHQ was made (rotate_level, no random shift)."""
    pre, steps = prepare(image, landmarks, output_size, enable_padding)
    aligned = quad_transform(pre, steps.quad_final, output_size, transform_size)
    return AlignedFace(image=aligned, landmarks=np.asarray(landmarks, dtype=np.float64), steps=steps,
                       output_size=output_size, transform_size=transform_size)


def _translate(tx: float, ty: float) -> np.ndarray:
    return np.array([[1.0, 0.0, tx], [0.0, 1.0, ty], [0.0, 0.0, 1.0]])


def _scale(sx: float, sy: float) -> np.ndarray:
    return np.diag([sx, sy, 1.0])


def _square_to_source(steps: RecipeSteps, n: int) -> np.ndarray:
    """Compose index->corner, square->quad (PIL QUAD is affine for a square), undo pad/crop/shrink, corner->index.

    PIL samples output pixel centres (i + 0.5) and treats input pixel k as covering [k, k + 1),
    which is why the recipe passes quad + 0.5; the same half-pixel shifts appear here.
    """
    q = steps.quad_final + 0.5
    quad_map = np.array([
        [(q[3, 0] - q[0, 0]) / n, (q[1, 0] - q[0, 0]) / n, q[0, 0]],
        [(q[3, 1] - q[0, 1]) / n, (q[1, 1] - q[0, 1]) / n, q[0, 1]],
        [0.0, 0.0, 1.0],
    ])
    m = quad_map @ _translate(0.5, 0.5)
    if steps.pad_final is not None:
        m = _translate(-steps.pad_final[0], -steps.pad_final[1]) @ m
    if steps.crop_applied:
        m = _translate(steps.crop[0], steps.crop[1]) @ m
    if steps.rsize is not None:
        w, h = steps.source_size
        m = _scale(w / steps.rsize[0], h / steps.rsize[1]) @ m
    return _translate(-0.5, -0.5) @ m


def _feather_mask(n: int, feather: float) -> np.ndarray:
    """1 inside the square, ramping linearly to 0 over `feather * n` pixels at each edge."""
    ramp = max(feather * n, 1.0)
    edge = np.minimum(np.arange(n) + 0.5, n - 0.5 - np.arange(n)) / ramp
    edge = np.clip(edge, 0.0, 1.0).astype(np.float32)
    return np.minimum(edge[:, None], edge[None, :])


def paste_back(original: Image.Image, aligned: Image.Image | np.ndarray, face: AlignedFace,
               feather: float = 0.1, mask: np.ndarray | None = None) -> Image.Image:
    """Warp an (edited) aligned face back into the photo it came from, blending with a feathered mask.

    `aligned` may be any square image or array load_image accepts (uint8, 16-bit, float 0..1).

    `mask` (n x n, 0..1, same size as `aligned`) replaces the default square feather, e.g. a face
    parsing mask. Pixels the warped mask does not reach are returned untouched.
    """
    src = np.asarray(to_rgb8(original))
    if src.shape[1::-1] != face.steps.source_size:
        raise GanlabError(f"paste_back needs the photo the face came from ({face.steps.source_size[0]}x"
                          f"{face.steps.source_size[1]}), got {src.shape[1]}x{src.shape[0]}")
    edit = load_image(aligned, name="aligned face")
    if edit.width != edit.height:
        raise GanlabError(f"the aligned face must be square, got {edit.width}x{edit.height}")
    alpha = _feather_mask(edit.width, feather) if mask is None else np.asarray(mask, dtype=np.float32)
    if alpha.shape != (edit.height, edit.width):
        raise GanlabError(f"mask shape {alpha.shape} does not match the aligned face {edit.width}x{edit.height}")

    # A warp that shrinks a lot aliases; one that shrinks 2x at most keeps detail that a resize to
    # the exact source size would blur twice (tests/align/test_align_paste.py holds the unedited round trip
    # to more than 40 dB).
    n_warp = max(2 * int(round(face.steps.qsize_initial)), 1)
    if n_warp < edit.width:
        alpha = cv2.resize(alpha, (n_warp, n_warp), interpolation=cv2.INTER_AREA)
        edit = edit.resize((n_warp, n_warp), Image.Resampling.LANCZOS)
    m = face.square_to_source(edit.width)

    h, w = src.shape[:2]
    corners = np.array([[0, 0, 1], [edit.width, 0, 1], [0, edit.width, 1], [edit.width, edit.width, 1]], float)
    pts = (m @ (corners - [0.5, 0.5, 0]).T)[:2].T
    x0, y0 = np.maximum(np.floor(pts.min(axis=0)).astype(int) - 2, 0)
    x1, y1 = np.minimum(np.ceil(pts.max(axis=0)).astype(int) + 3, [w, h])
    if x0 >= x1 or y0 >= y1:
        return to_rgb8(original)
    roi = _translate(-x0, -y0) @ m
    size = (int(x1 - x0), int(y1 - y0))
    warped = cv2.warpPerspective(np.asarray(edit), roi, size, flags=cv2.INTER_CUBIC,
                                 borderMode=cv2.BORDER_REPLICATE).astype(np.float32)
    weight = cv2.warpPerspective(alpha, roi, size, flags=cv2.INTER_LINEAR,
                                 borderMode=cv2.BORDER_CONSTANT, borderValue=0.0)
    weight = np.clip(weight, 0.0, 1.0)[..., None]

    out = src.copy()
    patch = src[y0:y1, x0:x1].astype(np.float32)
    out[y0:y1, x0:x1] = np.clip(np.rint(patch + (warped - patch) * weight), 0, 255).astype(np.uint8)
    return Image.fromarray(out, "RGB")
