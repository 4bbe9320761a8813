"""Pixel-space reference edits move and scale a rendered object by the requested amount, mark the pixels
they cannot define, and report clamped magnitudes."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ganlab.augment.transforms import TRANSFORMS, clamp_magnitude, edit, masked_l2
from ganlab.data.toyobjects import object_mask, render_objects
from ganlab.errors import GanlabError
from ganlab.imaging import from_uint8

SIZE = 64
CENTRE = (SIZE - 1) / 2


@pytest.fixture(scope="module")
def objects():
    """Rendered objects, their true masks as [N, 1, H, W] images in [-1, 1], and their attributes."""
    images, attrs = render_objects(6, seed=21)
    masks = torch.from_numpy(np.stack([object_mask(a) for a in attrs])).float()[:, None] * 2 - 1
    return from_uint8(images), masks, attrs


def soft_stats(mask_img: torch.Tensor) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Area and centroid (x, y) of masks given as images in [-1, 1]."""
    w = ((mask_img[:, 0] + 1) / 2).double()
    ys, xs = torch.meshgrid(torch.arange(SIZE, dtype=torch.float64), torch.arange(SIZE, dtype=torch.float64),
                            indexing="ij")
    area = w.sum((1, 2))
    return area.numpy(), ((w * xs).sum((1, 2)) / area).numpy(), ((w * ys).sum((1, 2)) / area).numpy()


@pytest.mark.parametrize("name, direction", [("slide_left", (-1, 0)), ("slide_right", (1, 0)),
                                             ("slide_up", (0, -1)), ("slide_down", (0, 1))])
def test_slides_move_the_object_by_the_requested_fraction_of_the_width(objects, name, direction):
    _, masks, _ = objects
    area0, x0, y0 = soft_stats(masks)
    magnitude = 0.1                                  # 6.4 px: exercises bilinear, not only whole pixels
    area1, x1, y1 = soft_stats(edit(masks, name, magnitude).img)
    inside = np.isclose(area1, area0, rtol=1e-3)     # objects that stayed fully in the frame
    assert inside.sum() >= 3
    np.testing.assert_allclose((x1 - x0)[inside], direction[0] * magnitude * SIZE, atol=0.02)
    np.testing.assert_allclose((y1 - y0)[inside], direction[1] * magnitude * SIZE, atol=0.02)


@pytest.mark.parametrize("factor", [0.7, 1.25])
def test_zoom_scales_the_object_about_the_image_centre(objects, factor):
    _, masks, _ = objects
    area0, x0, y0 = soft_stats(masks)
    area1, x1, y1 = soft_stats(edit(masks, "zoom", factor).img)
    inside = np.abs(np.sqrt(area1 / area0) / factor - 1) < 0.02
    assert inside.sum() >= 3
    np.testing.assert_allclose((x1 - CENTRE)[inside], factor * (x0 - CENTRE)[inside], atol=0.15)
    np.testing.assert_allclose((y1 - CENTRE)[inside], factor * (y0 - CENTRE)[inside], atol=0.15)


def test_validity_masks_mark_the_pixels_an_edit_cannot_define(objects):
    images, _, _ = objects
    right = edit(images, "slide_right", 0.25).mask[0, 0]
    assert not right[:, :16].any() and right[:, 16:].all()
    up = edit(images, "slide_up", 0.25).mask[0, 0]
    assert up[:48].all() and not up[48:].any()
    out = edit(images, "zoom", 0.5).mask[0, 0]
    assert out[16:48, 16:48].all() and not out[:16].any() and not out[:, 48:].any() and out.sum() == 32 * 32
    assert edit(images, "zoom", 1.5).mask.all() and edit(images, "brightness", 0.3).mask.all()


def test_brightness_adds_the_offset_in_units_of_the_full_range(objects):
    images, _, _ = objects
    brighter = edit(images, "brightness", 0.1).img
    unsaturated = images < 0.7
    assert torch.allclose((brighter - images)[unsaturated], torch.tensor(0.2), atol=1e-6)
    assert brighter.max() <= 1


def test_one_magnitude_per_image_and_identity_magnitudes_change_nothing(objects):
    images, _, _ = objects
    per_row = edit(images[:2], "slide_down", torch.tensor([0.0, 0.25]))
    assert torch.allclose(per_row.img[0], images[0], atol=1e-5)
    assert torch.allclose(per_row.img[1, :, 16:], images[1, :, :48], atol=1e-5)
    for name, s in TRANSFORMS.items():
        assert torch.allclose(edit(images, name, s.identity).img, images, atol=1e-5), name
    with pytest.raises(GanlabError, match="one per image"):
        edit(images, "zoom", torch.tensor([1.0, 1.2]))


def test_out_of_range_magnitudes_are_clamped_and_the_clamp_is_reported(objects):
    images, _, _ = objects
    result = edit(images, "zoom", 3.0)
    assert torch.all(result.magnitude == 2.0)
    assert "3.0" in result.note and "clamped" in result.note
    assert torch.allclose(result.img, edit(images, "zoom", 2.0).img)
    assert edit(images, "zoom", 1.5).note == ""
    m, note = clamp_magnitude("slide_left", torch.tensor([-0.9, 0.1, 0.7]))
    assert m.tolist() == pytest.approx([-0.5, 0.1, 0.5]) and "-0.9" in note and "0.7" in note
    with pytest.raises(GanlabError, match="unknown transformation 'spin'.*zoom"):
        edit(images, "spin", 1.0)


def test_masked_l2_ignores_undefined_pixels(objects):
    images, _, _ = objects
    shifted = edit(images, "slide_left", 0.25)
    garbage = shifted.img.clone()
    garbage[~shifted.mask.expand_as(garbage)] = 5.0
    assert torch.allclose(masked_l2(garbage, shifted.img, shifted.mask), torch.zeros(len(images)))
