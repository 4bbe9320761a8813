"""Judges trained briefly on rendered images: clearly better than chance, right shapes, cached faithfully."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ganlab.data import CLASS_NAMES, HAIR_COLORS, face_labels, object_labels, render_faces, render_objects
from ganlab.eval import judges
from ganlab.eval.judges import (
    FACE_BINARY,
    FEATURE_DIM,
    FaceJudge,
    JudgeConfig,
    ObjectJudge,
    cached_judge,
    evaluate,
    judge_path,
    load_judge,
    save_judge,
    train_face_judge,
    train_object_judge,
)
from ganlab.imaging import from_uint8

QUICK = dict(n_train=2000, steps=200, n_test=300)


@pytest.fixture(scope="module")
def face_judge() -> FaceJudge:
    return train_face_judge(**QUICK)


@pytest.fixture(scope="module")
def object_judge() -> ObjectJudge:
    return train_object_judge(**QUICK)


def test_face_judge_sees_sunglasses_on_faces_it_never_saw(face_judge):
    images, attrs = render_faces(400, seed=31_337)
    labels = face_labels(attrs)
    acc = evaluate(face_judge, images, labels)
    majority = max(labels["sunglasses"].mean(), 1 - labels["sunglasses"].mean())
    assert acc["sunglasses"] > max(0.95, majority + 0.1)
    assert face_judge.accuracy["sunglasses"] > 0.95
    assert set(face_judge.accuracy) == {*FACE_BINARY, "hair_color"}


def test_object_judge_names_classes_far_above_chance(object_judge):
    images, attrs = render_objects(400, seed=31_337)
    acc = evaluate(object_judge, images, object_labels(attrs))
    assert acc["cls"] > 0.6 > 1 / len(CLASS_NAMES)
    assert object_judge.accuracy["cls"] > 0.6


def test_face_outputs_have_label_shapes_and_types(face_judge):
    img = from_uint8(render_faces(5, seed=4)[0])
    pred, probs, feats = face_judge.predict(img), face_judge.probabilities(img), face_judge.features(img)
    for name in FACE_BINARY:
        assert pred[name].shape == (5,) and pred[name].dtype == bool
        assert probs[name].shape == (5,) and ((probs[name] >= 0) & (probs[name] <= 1)).all()
    assert pred["hair_color"].shape == (5,) and pred["hair_color"].dtype == np.int64
    assert probs["hair_color"].shape == (5, len(HAIR_COLORS))
    np.testing.assert_allclose(probs["hair_color"].sum(1), 1.0, rtol=1e-5)
    for k, colour in enumerate(HAIR_COLORS):
        np.testing.assert_array_equal(pred[f"hair_{colour}"], pred["hair_color"] == k)
    assert feats.shape == (5, FEATURE_DIM) and feats.dtype == np.float32


def test_features_of_rendered_images_have_unit_mean_square(face_judge):
    feats = face_judge.features(from_uint8(render_faces(300, seed=77)[0])).astype(np.float64)
    assert 0.7 < np.mean(np.sum(feats**2, 1)) / FEATURE_DIM < 1.3


def test_object_outputs_and_batching_do_not_change_results(object_judge):
    img = from_uint8(render_objects(7, seed=4)[0])
    pred = object_judge.predict(img)
    assert pred["cls"].shape == (7,) and pred["cls"].dtype == np.int64
    assert object_judge.features(img).shape == (7, FEATURE_DIM)
    feats_one_by_one = np.concatenate([object_judge.features(img[i:i + 1]) for i in range(7)])
    np.testing.assert_allclose(feats_one_by_one, object_judge.features(img), rtol=1e-4, atol=1e-5)
    with pytest.raises(ValueError):
        object_judge.predict(img[0])


def test_cache_round_trip_loads_without_retraining(face_judge, tmp_path, monkeypatch):
    monkeypatch.setenv("GANLAB_CACHE", str(tmp_path))
    path = judge_path("faces", face_judge.config)
    assert path.is_relative_to(tmp_path / "judges") and judges.JUDGE_VERSION in path.name
    save_judge(face_judge, path)
    monkeypatch.setattr(judges, "train_judge", lambda *a, **k: pytest.fail("cached judge was retrained"))
    loaded = cached_judge("faces", face_judge.config)
    assert isinstance(loaded, FaceJudge)
    assert loaded.config == face_judge.config and loaded.accuracy == face_judge.accuracy
    img = from_uint8(render_faces(6, seed=8)[0])
    np.testing.assert_array_equal(loaded.features(img), face_judge.features(img))
    record = torch.load(path, weights_only=True)
    assert record["version"] == judges.JUDGE_VERSION and record["domain"] == "faces"


def test_unreadable_cache_entry_is_retrained_and_replaced(tmp_path, monkeypatch):
    monkeypatch.setenv("GANLAB_CACHE", str(tmp_path))
    config = JudgeConfig(n_train=64, steps=2, n_test=16)
    path = judge_path("objects", config)
    path.parent.mkdir(parents=True)
    path.write_bytes(b"not a checkpoint")
    judge = cached_judge("objects", config)
    assert isinstance(judge, ObjectJudge)
    assert isinstance(load_judge(path), ObjectJudge)


def test_unknown_domain_is_rejected():
    with pytest.raises(ValueError, match="unknown judge domain"):
        judges.train_judge("cars")
