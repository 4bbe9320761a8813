"""Walk training streams records and leaves the model alone; walk files round-trip and refuse other models."""

from __future__ import annotations

import json
import threading

import numpy as np
import pytest
import torch

from ganlab.augment.walks import Walk, WalkSet, load_walks, save_walks
from ganlab.cli import main
from ganlab.train.walks import train_walks
from ganlab.errors import GanlabError
from ganlab.invert.projector import ProjectionStep
from ganlab.models.registry import Registry, load_model


@pytest.fixture(scope="module")
def model():
    torch.set_num_threads(1)
    return load_model(Registry(), "toyobjects-64")


def test_training_streams_records_and_returns_walks_without_touching_the_model(model):
    before = {k: v.clone() for k, v in model.net.state_dict().items()}
    records = list(train_walks(model, ["zoom", "slide_left"], steps=3, batch=2, seed=1))
    steps, walks = records[:-1], records[-1]
    assert [r.step for r in steps] == [1, 2, 3] and all(isinstance(r, ProjectionStep) for r in steps)
    assert set(steps[0].losses) == {"zoom", "slide_left"} and steps[-1].eta_s == 0
    assert isinstance(walks, WalkSet) and walks.model_id == "toyobjects-64"
    assert list(walks.walks) == ["zoom", "slide_left"]
    assert walks.walks["zoom"].alpha == "log(magnitude)" and walks.walks["slide_left"].alpha == "magnitude"
    assert walks.walks["zoom"].alpha_range == pytest.approx((np.log(0.5), np.log(2.0)))
    assert all(np.abs(w.vector).sum() > 0 and w.vector.shape == (model.z_dim,) for w in walks.walks.values())
    assert all(torch.equal(before[k], v) for k, v in model.net.state_dict().items())
    assert all(p.grad is None for p in model.net.parameters())


def test_walk_files_round_trip_with_their_metadata(model, tmp_path):
    vec = np.random.default_rng(0).normal(size=(2, model.z_dim)).astype(np.float32)
    walks = WalkSet("toyobjects-64", model.z_dim,
                    {"zoom": Walk("zoom", vec[0], "log(magnitude)", (np.log(0.5), np.log(2.0)), 0.01),
                     "brightness": Walk("brightness", vec[1], "magnitude", (-0.5, 0.5), 0.02)},
                    truncation=0.8, run={"steps": 5, "batch": 2})
    path = save_walks(walks, tmp_path / "w.npz")
    loaded = load_walks(path, model)
    assert loaded.model_id == "toyobjects-64" and loaded.truncation == 0.8 and loaded.run == {"steps": 5, "batch": 2}
    for name, walk in walks.walks.items():
        got = loaded.walks[name]
        assert np.array_equal(got.vector, walk.vector) and got.alpha == walk.alpha
        assert got.alpha_range == pytest.approx(walk.alpha_range) and got.loss == pytest.approx(walk.loss)
    meta = json.loads(str(np.load(path)["meta"]))
    assert meta["model"] == "toyobjects-64" and meta["transforms"][0]["alpha"] == "log(magnitude)"


def test_applying_a_walk_scales_with_alpha_and_reports_clamping(model):
    vec = np.ones(model.z_dim, np.float32)
    walks = WalkSet("toyobjects-64", model.z_dim, {"zoom": Walk("zoom", vec, "log(magnitude)", (-0.7, 0.7))})
    z = torch.zeros(2, model.z_dim)
    moved, note = walks.shifted(z, "zoom", torch.tensor([1.0, 2.0]))
    assert torch.allclose(moved[0], z[0]) and torch.allclose(moved[1], torch.full((model.z_dim,), np.log(2.0)))
    assert note == ""
    _, note = walks.shifted(z, "zoom", 9.0)
    assert "clamped" in note
    with pytest.raises(GanlabError, match="no learned walk for 'slide_up'"):
        walks.shifted(z, "slide_up", 0.1)


def test_walks_for_another_model_are_refused(model, tmp_path):
    other = WalkSet("biggan-deep-128", model.z_dim, {"zoom": Walk("zoom", np.zeros(model.z_dim, np.float32),
                                                                  "log(magnitude)", (-0.7, 0.7))})
    path = save_walks(other, tmp_path / "other.npz")
    with pytest.raises(GanlabError, match="trained for 'biggan-deep-128'.*train-walks --model toyobjects-64"):
        load_walks(path, model)
    assert load_walks(path).model_id == "biggan-deep-128"       # readable when no model is named


def test_unreadable_walk_files_say_so(tmp_path):
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"not a zip")
    with pytest.raises(GanlabError, match="not a ganlab walks file"):
        load_walks(bad)
    with pytest.raises(GanlabError, match="no walks file"):
        load_walks(tmp_path / "missing.npz")


def test_the_train_walks_command_writes_the_file(tmp_path, capsys):
    out = tmp_path / "walks.npz"
    command = ["train-walks", "--model", "toyobjects-64", "--steps", "2", "--batch", "1", "--out", str(out),
               "--device", "cpu"]
    assert main(command + ["--transforms", "brightness"]) == 0
    assert list(load_walks(out).walks) == ["brightness"]
    assert "wrote" in capsys.readouterr().out
    assert main(command + ["--transforms", "spin"]) == 2
    assert "unknown transformation" in capsys.readouterr().err


def test_a_cancelled_run_still_returns_the_walks_so_far(model):
    cancel = threading.Event()
    records = []
    for rec in train_walks(model, ["slide_up"], steps=20, batch=1, cancel=cancel):
        records.append(rec)
        cancel.set()
    assert len(records) == 2 and isinstance(records[-1], WalkSet) and records[-1].run["steps"] == 1


def test_per_class_walks_learn_offsets_only_for_the_classes_they_saw(model):
    *_, walks = train_walks(model, ["slide_up"], steps=2, batch=2, seed=3)
    offsets = walks.walks["slide_up"].class_offsets
    assert offsets.shape == (model.num_classes, model.z_dim)
    seen = np.abs(offsets).sum(1) > 0
    assert 1 <= seen.sum() <= 4 and not seen.all()   # 2 steps of 2 samples: at most 4 classes
    *_, shared = train_walks(model, ["slide_up"], steps=2, batch=2, seed=3, per_class=False)
    assert shared.walks["slide_up"].class_offsets is None and shared.run["per_class"] is False


def test_a_per_class_walk_steps_by_its_class_offset_and_needs_the_class(model, tmp_path):
    rng = np.random.default_rng(1)
    vec = rng.normal(size=model.z_dim).astype(np.float32)
    offsets = rng.normal(size=(model.num_classes, model.z_dim)).astype(np.float32)
    walks = WalkSet(model.name, model.z_dim, {"slide_up": Walk("slide_up", vec, "magnitude", (-0.5, 0.5),
                                                               class_offsets=offsets)})
    z = torch.zeros(3, model.z_dim)
    c = torch.zeros(3, model.num_classes)
    c[0, 2] = 1
    c[1, 5] = 1
    c[2, [2, 5]] = 0.5                                    # a mixture of the two classes mixes their offsets
    moved, _ = walks.shifted(z, "slide_up", 0.5, c)
    assert torch.allclose(moved[0], torch.from_numpy(0.5 * (vec + offsets[2])), atol=1e-6)
    assert torch.allclose(moved[1], torch.from_numpy(0.5 * (vec + offsets[5])), atol=1e-6)
    assert torch.allclose(moved[2], torch.from_numpy(0.5 * (vec + (offsets[2] + offsets[5]) / 2)), atol=1e-6)
    with pytest.raises(GanlabError, match="depends on the class"):
        walks.shifted(z, "slide_up", 0.5)
    one, _ = walks.shifted(z, "slide_up", 0.5, c[:1])     # one class row for every latent, as a gallery has
    assert torch.allclose(one, moved[:1].expand(3, -1))
    with pytest.raises(GanlabError, match="2 rows for 3 latents"):
        walks.shifted(z, "slide_up", 0.5, c[:2])
    loaded = load_walks(save_walks(walks, tmp_path / "pc.npz"), model)
    assert np.array_equal(loaded.walks["slide_up"].class_offsets, offsets)
    assert json.loads(str(np.load(tmp_path / "pc.npz")["meta"]))["format"] == 2


def test_per_class_walks_for_another_class_count_are_refused(model, tmp_path):
    walks = WalkSet(model.name, model.z_dim, {"zoom": Walk("zoom", np.ones(model.z_dim, np.float32), "log(magnitude)",
                                                           (-0.7, 0.7), class_offsets=np.zeros((3, model.z_dim)))})
    with pytest.raises(GanlabError, match="3 classes"):
        load_walks(save_walks(walks, tmp_path / "three.npz"), model)
    data = dict(np.load(tmp_path / "three.npz"))
    np.savez(tmp_path / "bent.npz", **{**data, "class_offsets": data["class_offsets"][0]})
    with pytest.raises(GanlabError, match="not a ganlab walks file.*class_offsets has shape"):
        load_walks(tmp_path / "bent.npz", model)


def test_format_1_files_of_shared_walks_still_load(model, tmp_path):
    vec = np.ones((1, model.z_dim), np.float32)
    meta = {"format": 1, "model": model.name, "z_dim": model.z_dim, "truncation": 1.0, "run": {},
            "transforms": [{"name": "zoom", "alpha": "log(magnitude)", "alpha_range": [-0.7, 0.7], "loss": 0.1}]}
    np.savez(tmp_path / "old.npz", vectors=vec, meta=np.array(json.dumps(meta)))
    walk = load_walks(tmp_path / "old.npz", model).walks["zoom"]
    assert walk.class_offsets is None and np.array_equal(walk.vector, vec[0])


def test_training_further_starts_from_the_given_walks(model):
    *_, first = train_walks(model, ["zoom", "brightness"], steps=2, batch=2, seed=4)
    records = list(train_walks(model, ["brightness"], steps=1, batch=2, seed=5, lr=1e-6, init=first))
    walk = records[-1].walks["brightness"]
    assert np.allclose(walk.vector, first.walks["brightness"].vector, atol=1e-4)
    assert np.allclose(walk.class_offsets, first.walks["brightness"].class_offsets, atol=1e-4)
    assert np.abs(walk.vector).sum() > 0 and records[-1].run["started_from"] == first.run
    other = WalkSet("biggan-deep-128", model.z_dim, first.walks)
    with pytest.raises(GanlabError, match="cannot start from walks trained for 'biggan-deep-128'"):
        list(train_walks(model, ["zoom"], steps=1, batch=1, init=other))
