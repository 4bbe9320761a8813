"""The toy-face renderer is deterministic and its labels are visible in the pixels they describe."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from ganlab.data.toyfaces import (
    HAIR_COLORS,
    HAIR_RGB,
    HAIR_STYLES,
    FaceAttrs,
    face_labels,
    face_regions,
    item_rng,
    render_face,
    render_faces,
    sample_face_attrs,
)

LUMA = np.array([0.299, 0.587, 0.114])


def crop(img: np.ndarray, box: tuple[int, int, int, int]) -> np.ndarray:
    x0, y0, x1, y1 = box
    return img[y0:y1, x0:x1].astype(np.float64)


def luminance(img: np.ndarray, box: tuple[int, int, int, int]) -> float:
    return float((crop(img, box) @ LUMA).mean())


def plain_faces(n: int, seed: int = 7, **overrides) -> list[FaceAttrs]:
    """Random faces without glasses or beard (unless overridden), so one attribute can be varied."""
    base = dict(eyeglasses=False, sunglasses=False, beard=False)
    return [replace(sample_face_attrs(item_rng(seed, i)), **{**base, **overrides}) for i in range(n)]


def test_same_seed_gives_identical_images_and_attrs():
    a_img, a_attrs = render_faces(5, seed=3)
    b_img, b_attrs = render_faces(5, seed=3)
    assert np.array_equal(a_img, b_img)
    assert a_attrs == b_attrs


def test_different_seeds_give_different_faces():
    a_img, a_attrs = render_faces(4, seed=3)
    b_img, b_attrs = render_faces(4, seed=4)
    assert all(not np.array_equal(x, y) for x, y in zip(a_img, b_img))
    assert a_attrs != b_attrs


def test_item_depends_only_on_seed_and_index_so_chunks_match_one_batch():
    whole, whole_attrs = render_faces(6, seed=11)
    first, first_attrs = render_faces(2, seed=11)
    rest, rest_attrs = render_faces(4, seed=11, start=2)
    assert np.array_equal(np.concatenate([first, rest]), whole)
    assert first_attrs + rest_attrs == whole_attrs


@pytest.mark.parametrize("size", [64, 128])
def test_images_are_uint8_rgb_of_requested_size(size):
    images, attrs = render_faces(3, seed=0, size=size)
    assert images.shape == (3, size, size, 3) and images.dtype == np.uint8
    assert len(attrs) == 3
    single = render_face(attrs[0], size)
    assert single.shape == (size, size, 3) and single.dtype == np.uint8
    assert np.array_equal(single, images[0])


def test_eyeglasses_and_sunglasses_are_mutually_exclusive():
    attrs = [sample_face_attrs(item_rng(1, i)) for i in range(500)]
    assert not any(a.eyeglasses and a.sunglasses for a in attrs)
    with pytest.raises(ValueError):
        replace(attrs[0], eyeglasses=True, sunglasses=True)


def test_binary_attributes_are_balanced_enough_for_classifiers():
    labels = face_labels([sample_face_attrs(item_rng(2, i)) for i in range(2000)])
    expected = {"sunglasses": 0.2, "eyeglasses": 0.2, "beard": 0.25, "smile": 0.5, "bald": 0.15}
    for name, rate in expected.items():
        assert abs(labels[name].mean() - rate) < 0.04, name
    for name in HAIR_COLORS:
        assert labels[f"hair_{name}"].mean() > 0.05, name


def test_face_labels_have_documented_names_dtypes_and_values():
    attrs = [sample_face_attrs(item_rng(5, i)) for i in range(50)]
    labels = face_labels(attrs)
    for name in ["smile", "sunglasses", "eyeglasses", "glasses", "beard", "bald", "long_hair", "dark_skin"]:
        assert labels[name].dtype == bool and labels[name].shape == (50,)
    for name in ["smile_amount", "eye_size", "rotation", "scale", "offset_x", "offset_y"]:
        assert labels[name].dtype == np.float32
    assert np.array_equal(labels["smile"], labels["smile_amount"] > 0)
    assert np.allclose(labels["smile_amount"], [a.smile for a in attrs])
    assert np.array_equal(labels["hair_blond"], [HAIR_COLORS[a.hair_color] == "blond" for a in attrs])
    assert np.array_equal(labels["glasses"], labels["sunglasses"] | labels["eyeglasses"])
    assert np.array_equal(labels["hair_style"], [a.hair_style for a in attrs])


def test_background_corner_has_labelled_background_colour():
    for attrs in plain_faces(10):
        img = render_face(attrs)
        assert tuple(img[0, 0]) == attrs.background


def test_sunglasses_make_eye_region_dark():
    for attrs in plain_faces(12):
        plain = render_face(attrs)
        shaded = render_face(replace(attrs, sunglasses=True))
        box = face_regions(attrs)["eyes"]
        assert luminance(shaded, box) < 0.5 * luminance(plain, box)


def test_eyeglasses_frame_eyes_but_keep_them_visible():
    for attrs in plain_faces(12):
        plain = render_face(attrs)
        framed = render_face(replace(attrs, eyeglasses=True))
        shaded = render_face(replace(attrs, sunglasses=True))
        box = face_regions(attrs)["eyes"]
        assert np.abs(crop(framed, box) - crop(plain, box)).mean() > 3
        assert luminance(framed, box) > luminance(shaded, box) + 15


def test_beard_covers_chin_in_beard_colour():
    for attrs in plain_faces(12):
        beard_rgb = np.array(attrs.beard_rgb)
        box = face_regions(attrs)["chin"]
        bearded = crop(render_face(replace(attrs, beard=True)), box).reshape(-1, 3).mean(0)
        shaven = crop(render_face(attrs), box).reshape(-1, 3).mean(0)
        assert np.linalg.norm(bearded - beard_rgb) < 15
        assert np.linalg.norm(bearded - beard_rgb) < np.linalg.norm(shaven - beard_rgb)


def test_dark_beard_makes_lower_face_darker():
    for attrs in plain_faces(8, skin=1, hair_color=HAIR_COLORS.index("black")):
        box = face_regions(attrs)["chin"]
        assert luminance(render_face(replace(attrs, beard=True)), box) < luminance(render_face(attrs), box) - 80


def mouth_bend(img: np.ndarray, box: tuple[int, int, int, int]) -> float:
    """How much lower the dark mouth pixels sit in the middle columns than at the corners (pixels)."""
    region = crop(img, box) @ LUMA
    dark = region < region.max() - 90
    cols = np.nonzero(dark.any(0))[0]
    rows = np.arange(region.shape[0])[:, None]
    centre_row = (rows * dark).sum(0)[cols] / dark.sum(0)[cols]
    k = max(1, len(cols) // 4)
    return float(centre_row[len(cols) // 2 - k // 2: len(cols) // 2 + k // 2 + 1].mean()
                 - np.concatenate([centre_row[:k], centre_row[-k:]]).mean())


def test_smile_curves_mouth_up_and_frown_curves_it_down():
    for attrs in plain_faces(8, skin=0, rotation=0.0):
        box = face_regions(attrs, 128)["mouth"]
        smiling = render_face(replace(attrs, smile=0.8), 128)
        frowning = render_face(replace(attrs, smile=-0.8), 128)
        assert mouth_bend(smiling, box) > 2
        assert mouth_bend(frowning, box) < -2
        assert np.abs(crop(smiling, box) - crop(frowning, box)).mean() > 10


def test_smile_leaves_everything_outside_the_mouth_unchanged():
    for attrs in plain_faces(4):
        diff = np.abs(render_face(replace(attrs, smile=0.9)).astype(int) - render_face(replace(attrs, smile=-0.9)))
        x0, y0, x1, y1 = face_regions(attrs)["mouth"]
        diff[y0:y1, x0:x1] = 0
        assert diff.max() == 0


def test_hair_region_shows_labelled_hair_colour():
    palette = np.array(HAIR_RGB, float)
    for style in ["short", "long"]:
        for k in range(len(HAIR_COLORS)):
            for attrs in plain_faces(3, hair_color=k, hair_style=HAIR_STYLES.index(style)):
                img = render_face(attrs)
                median = np.median(crop(img, face_regions(attrs)["hair"]).reshape(-1, 3), 0)
                assert np.linalg.norm(palette - median, axis=1).argmin() == k


def test_bald_head_top_shows_skin_not_hair():
    for attrs in plain_faces(10, hair_style=HAIR_STYLES.index("bald")):
        img = render_face(attrs)
        median = np.median(crop(img, face_regions(attrs)["hair"]).reshape(-1, 3), 0)
        assert np.linalg.norm(median - attrs.skin_rgb) < np.linalg.norm(median - attrs.hair_rgb)
        assert np.linalg.norm(median - attrs.skin_rgb) < 25


def eye_white_pixels(img: np.ndarray, box: tuple[int, int, int, int]) -> int:
    region = crop(img, box)
    return int(((region.min(-1) > 200) & (np.ptp(region, -1) < 24)).sum())


def test_larger_eye_size_shows_more_eye_white():
    for attrs in plain_faces(8):
        box = face_regions(attrs, 128)["eyes"]
        small = eye_white_pixels(render_face(replace(attrs, eye_size=0.0), 128), box)
        large = eye_white_pixels(render_face(replace(attrs, eye_size=1.0), 128), box)
        assert large > 2 * small + 20


def test_regions_follow_the_head_offset():
    attrs = plain_faces(1, offset=(0.0, 0.0), rotation=0.0, scale=1.0)[0]
    moved = replace(attrs, offset=(0.1, -0.05))
    for name, (x0, y0, x1, y1) in face_regions(attrs, 128).items():
        mx0, my0, mx1, my1 = face_regions(moved, 128)[name]
        assert abs(mx0 - x0 - 12.8) <= 1 and abs(my1 - y1 + 6.4) <= 1, name
