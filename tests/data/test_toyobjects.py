"""The toy-object renderer is deterministic and its centre, scale and class labels match the pixels."""

from __future__ import annotations

from dataclasses import replace
from itertools import combinations

import cv2
import numpy as np
import pytest

from ganlab.data.toyobjects import (
    CLASS_NAMES,
    ObjectAttrs,
    item_rng,
    object_labels,
    object_mask,
    render_background,
    render_object,
    render_objects,
    sample_object_attrs,
)


def random_objects(n: int, seed: int = 9, size: int = 64) -> list[ObjectAttrs]:
    return [sample_object_attrs(item_rng(seed, i), size=size) for i in range(n)]


def extent_in_object_frame(mask: np.ndarray, attrs: ObjectAttrs) -> float:
    """Larger side of the mask's bounding box measured along the object's own (rotated) axes, in pixels."""
    ys, xs = np.nonzero(mask)
    th = np.deg2rad(attrs.rotation)
    dx, dy = xs - attrs.cx, ys - attrs.cy
    u = np.cos(th) * dx + np.sin(th) * dy
    v = -np.sin(th) * dx + np.cos(th) * dy
    return float(max(np.ptp(u), np.ptp(v)) + 1)


def test_same_seed_gives_identical_images_and_attrs():
    a_img, a_attrs = render_objects(6, seed=1)
    b_img, b_attrs = render_objects(6, seed=1)
    assert np.array_equal(a_img, b_img)
    assert a_attrs == b_attrs


def test_different_seeds_give_different_objects():
    a_img, _ = render_objects(4, seed=1)
    b_img, _ = render_objects(4, seed=2)
    assert all(not np.array_equal(x, y) for x, y in zip(a_img, b_img))


def test_item_depends_only_on_seed_and_index_so_chunks_match_one_batch():
    whole, whole_attrs = render_objects(7, seed=5)
    first, first_attrs = render_objects(3, seed=5)
    rest, rest_attrs = render_objects(4, seed=5, start=3)
    assert np.array_equal(np.concatenate([first, rest]), whole)
    assert first_attrs + rest_attrs == whole_attrs


@pytest.mark.parametrize("size", [64, 128])
def test_images_are_uint8_rgb_of_requested_size(size):
    images, attrs = render_objects(3, seed=0, size=size)
    assert images.shape == (3, size, size, 3) and images.dtype == np.uint8
    assert np.array_equal(render_object(attrs[0]), images[0])
    mask = object_mask(attrs[0])
    assert mask.shape == (size, size) and mask.dtype == bool


def test_mask_centroid_is_the_labelled_centre():
    for attrs in random_objects(150):
        ys, xs = np.nonzero(object_mask(attrs))
        assert abs(xs.mean() - attrs.cx) < 0.6 and abs(ys.mean() - attrs.cy) < 0.6, attrs.class_name


def test_mask_extent_is_scale_times_image_size():
    for attrs in random_objects(100, size=64):
        assert abs(extent_in_object_frame(object_mask(attrs), attrs) - attrs.scale * 64) <= 2.0
    for attrs in random_objects(60, size=128):
        assert extent_in_object_frame(object_mask(attrs), attrs) / (attrs.scale * 128) == pytest.approx(1, abs=0.05)


def test_objects_stay_in_the_middle_and_fully_in_view():
    for attrs in random_objects(200):
        assert 0.25 <= attrs.scale <= 0.6
        assert 0.2 * 64 - 1 <= attrs.cx <= 0.8 * 64 and 0.2 * 64 - 1 <= attrs.cy <= 0.8 * 64
        mask = object_mask(attrs)
        assert not (mask[0].any() or mask[-1].any() or mask[:, 0].any() or mask[:, -1].any())


def test_rendered_object_covers_its_mask_and_nothing_else():
    for attrs in random_objects(30):
        diff = np.abs(render_object(attrs).astype(float) - render_background(attrs.background)).max(-1)
        mask = object_mask(attrs)
        near = cv2.dilate(mask.astype(np.uint8), np.ones((5, 5), np.uint8)).astype(bool)
        assert diff[~near].max() <= 1, attrs.class_name
        assert diff[mask].mean() > 20, attrs.class_name


def test_mask_at_another_size_scales_the_centre():
    for attrs in random_objects(20):
        ys, xs = np.nonzero(object_mask(attrs, 128))
        assert abs(xs.mean() - (2 * attrs.cx + 0.5)) < 1.0 and abs(ys.mean() - (2 * attrs.cy + 0.5)) < 1.0


def test_classes_are_balanced_when_not_given():
    _, attrs = render_objects(600, seed=3)
    counts = np.bincount([a.cls for a in attrs], minlength=len(CLASS_NAMES))
    assert counts.min() >= 35 and counts.max() <= 85


def test_classes_argument_restricts_the_classes_drawn():
    _, attrs = render_objects(40, seed=3, classes=[2, 7])
    assert {a.cls for a in attrs} == {2, 7}
    assert {a.class_name for a in attrs} == {CLASS_NAMES[2], CLASS_NAMES[7]}


def test_each_class_renders_a_distinct_silhouette():
    base = sample_object_attrs(item_rng(0, 0), cls=0)
    masks = [object_mask(replace(base, cls=k, cx=31.5, cy=31.5, scale=0.55, rotation=0.0))
             for k in range(len(CLASS_NAMES))]
    for a, b in combinations(range(len(CLASS_NAMES)), 2):
        iou = (masks[a] & masks[b]).sum() / (masks[a] | masks[b]).sum()
        assert iou < 0.85, (CLASS_NAMES[a], CLASS_NAMES[b], iou)


def test_object_labels_match_attrs():
    attrs = random_objects(20)
    labels = object_labels(attrs)
    assert labels["cls"].dtype == np.int64
    assert np.array_equal(labels["cls"], [a.cls for a in attrs])
    assert np.allclose(labels["cx"], [a.cx for a in attrs]) and np.allclose(labels["cy"], [a.cy for a in attrs])
    assert np.allclose(labels["scale"], [a.scale for a in attrs])
