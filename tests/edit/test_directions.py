"""Directions: SVM boundaries recover planted directions and warn when they cannot, conditioning
orthogonalises, GANSpace / SeFa give orthonormal axes with the right order, files keep their model."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ganlab.edit.apply import render_edit
from ganlab.edit.directions import (Direction, LearnedDirection, LearnProgress, affine_layers_by_ws, condition,
                                    ganspace, learn_direction, learn_from_images, learn_one_vs_rest, load_directions,
                                    sample_w, save_directions, sefa, sefa_matrix)
from ganlab.errors import GanlabError, ShapeError
from ganlab.train.directions import label_samples, ship_directions
from ganlab.invert.losses import FALLBACK_NAME, Distance, fallback_distance
from ganlab.invert.projector import ProjectionConfig
from ganlab.models.registry import Registry, load_model

W_DIM = 16


@pytest.fixture(scope="module")
def model():
    torch.set_num_threads(1)
    return load_model(Registry(), "toyfaces-64")


def planted(n_pos: int, n_neg: int, margin: float, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Gaussian latents split by a random hyperplane through 0, `margin` apart along its normal."""
    rng = np.random.default_rng(seed)
    normal = rng.normal(size=W_DIM)
    normal /= np.linalg.norm(normal)
    x = rng.normal(size=(4 * (n_pos + n_neg), W_DIM))
    score = x @ normal
    pos = x[score > 0][:n_pos] + margin / 2 * normal
    neg = x[score < 0][:n_neg] - margin / 2 * normal
    return pos, neg, normal


def unit(seed: int, dim: int = W_DIM) -> np.ndarray:
    v = np.random.default_rng(seed).normal(size=dim)
    return v / np.linalg.norm(v)


def test_svm_recovers_a_planted_direction_and_reports_cross_validated_accuracy():
    pos, neg, normal = planted(150, 150, margin=1.0)
    direction, report = learn_direction(pos, neg, "planted", "m")
    assert float(direction.vector @ normal) > 0.95 and float(direction.normal @ normal) > 0.95
    assert np.linalg.norm(direction.vector) == pytest.approx(1, abs=1e-6)
    assert report.folds == 5 and report.cv_accuracy > 0.95 and direction.accuracy == report.cv_accuracy
    assert report.warnings == [] and direction.source == "svm"
    assert direction.sigma == pytest.approx(np.std(np.concatenate([pos, neg]) @ direction.vector), rel=1e-5)


def test_in_anisotropic_latents_the_direction_follows_where_the_groups_differ_not_the_thin_margin():
    # The groups differ by 2 along axis 0 (spread 2) and by 0.2 along axis 1 (spread 0.1). The
    # maximum-margin normal leans on axis 1; moving along it would hardly change a latent.
    rng = np.random.default_rng(5)
    scale = np.full(W_DIM, 0.5)
    scale[0], scale[1] = 2.0, 0.1
    shift = np.zeros(W_DIM)
    shift[0], shift[1] = 1.0, 0.1
    pos = rng.normal(size=(400, W_DIM)) * scale + shift
    neg = rng.normal(size=(400, W_DIM)) * scale - shift
    direction, _ = learn_direction(pos, neg, "wide", "m")
    assert direction.vector[0] > 0.95
    gap = (pos.mean(0) - neg.mean(0)) @ direction.vector
    assert gap / direction.sigma > 0.8  # one slider unit crosses most of the way between the groups


def test_w_plus_latents_are_averaged_over_layers_and_sigma_uses_the_reference():
    pos, neg, normal = planted(60, 60, margin=1.0, seed=1)
    to_ws = lambda x: torch.from_numpy(x).float().unsqueeze(1).repeat(1, 3, 1)  # noqa: E731
    reference = np.random.default_rng(2).normal(size=(500, W_DIM)) * 0.5
    direction, _ = learn_direction(to_ws(pos), to_ws(neg), "ws", "m", space="w+", reference=reference)
    assert float(direction.vector @ normal) > 0.9
    assert direction.sigma == pytest.approx(np.std(reference @ direction.vector), rel=1e-5)


def test_a_reference_of_one_latent_is_refused():
    pos, neg, _ = planted(20, 20, margin=1.0)
    with pytest.raises(GanlabError, match="at least 2 latents"):
        learn_direction(pos, neg, "one", "m", reference=pos[:1])


def test_tiny_and_inseparable_groups_are_warned_about():
    pos, neg, _ = planted(6, 40, margin=1.0)
    _, report = learn_direction(pos, neg, "tiny", "m")
    assert report.folds == 5 and any("only 6 positive" in w for w in report.warnings)
    rng = np.random.default_rng(3)
    _, report = learn_direction(rng.normal(size=(80, W_DIM)), rng.normal(size=(80, W_DIM)), "noise", "m")
    assert report.cv_accuracy < 0.7 and any("not separable" in w for w in report.warnings)
    with pytest.raises(GanlabError, match="at least 2"):
        learn_direction(pos[:1], neg, "one", "m")
    with pytest.raises(ShapeError, match="latents_neg"):
        learn_direction(pos, neg[:, :8], "dims", "m")


def test_one_vs_rest_gives_one_direction_per_group_pointing_at_its_centre():
    rng = np.random.default_rng(4)
    centres = {name: 3 * unit(10 + i) for i, name in enumerate(("red", "green", "blue"))}
    groups = {name: c + rng.normal(size=(50, W_DIM)) * 0.5 for name, c in centres.items()}
    results = learn_one_vs_rest(groups, "m")
    assert [d.name for d, _ in results] == ["red", "green", "blue"]
    for d, report in results:
        others = [c for name, c in centres.items() if name != d.name]
        assert float(d.vector @ (centres[d.name] - np.mean(others, axis=0))) > 0
        assert report.n_pos == 50 and report.n_neg == 100 and report.cv_accuracy > 0.9


def test_conditioning_removes_the_other_directions_and_renormalises():
    a, b, c = (Direction(n, unit(s), "m", sigma=2.0) for n, s in (("a", 1), ("b", 2), ("c", 3)))
    out = condition(a, [b, c])
    assert abs(out.vector @ b.vector) < 1e-6 and abs(out.vector @ c.vector) < 1e-6
    assert np.linalg.norm(out.vector) == pytest.approx(1, abs=1e-6)
    assert float(out.vector @ a.vector) > 0 and out.metadata["conditioned_on"] == ["b", "c"]
    reference = np.random.default_rng(5).normal(size=(300, W_DIM))
    held = condition(a, [b], reference)
    assert held.sigma == pytest.approx(np.std(reference @ held.vector), rel=1e-5)
    with pytest.raises(GanlabError, match="span"):
        condition(a, [a])


def test_conditioning_holds_the_other_boundaries_in_the_latents_metric():
    """Against a learned direction, what stays put is its SVM score (normal . w), not its pattern; with a
    reference the change is the smallest in the latents' spread, so it avoids directions where w hardly varies."""
    rng = np.random.default_rng(6)
    reference = rng.normal(size=(4000, W_DIM)) * np.linspace(0.1, 3.0, W_DIM)   # strongly anisotropic W
    a = Direction("a", rng.normal(size=W_DIM), "m")
    b = Direction("b", rng.normal(size=W_DIM), "m", normal=rng.normal(size=W_DIM))
    plain, spread = condition(a, [b]), condition(a, [b], reference)
    for out in (plain, spread):
        assert abs(float(out.vector @ b.normal)) < 1e-6             # b's score does not move
    assert abs(float(plain.vector @ b.vector)) > 1e-3               # ... though b's own vector is not removed
    cov = np.cov(reference, rowvar=False)

    def cost(d: np.ndarray) -> float:                               # Mahalanobis size of the change to a
        scaled = d * float(a.vector @ np.linalg.solve(cov, d)) / float(d @ np.linalg.solve(cov, d))
        return float((scaled - a.vector) @ np.linalg.solve(cov, scaled - a.vector))
    assert cost(spread.vector.astype(np.float64)) < cost(plain.vector.astype(np.float64))
    assert spread.normal is None and spread.metadata["conditioned_on"] == ["b"]
    c = Direction("c", rng.normal(size=W_DIM), "m", normal=rng.normal(size=W_DIM))
    few = condition(a, [b, c], reference[:2])             # a 2-latent spread is singular: still held exactly
    assert max(abs(float(few.vector @ b.normal)), abs(float(few.vector @ c.normal))) < 1e-5
    with pytest.raises(GanlabError, match="at least 2 latents"):
        condition(a, [b], reference[:1])


def test_ganspace_components_are_orthonormal_and_ordered_by_variance(model):
    dirs = ganspace(model, n_samples=1500, n_components=6, seed=1)
    v = np.stack([d.vector for d in dirs]).astype(np.float64)
    assert np.allclose(v @ v.T, np.eye(6), atol=1e-5)
    sigmas = [d.sigma for d in dirs]
    assert sigmas == sorted(sigmas, reverse=True)
    w = sample_w(model, 1500, seed=1).double().numpy()
    assert np.std(w @ v[0]) == pytest.approx(sigmas[0], rel=1e-3)
    assert all(d.source == "ganspace" and d.model_id == model.name and d.layers is None for d in dirs)


def test_every_ws_index_maps_to_the_style_layers_that_read_it(model):
    by_ws = affine_layers_by_ws(model.net)
    assert sorted(by_ws) == list(range(model.num_ws))
    assert [n for n, _ in by_ws[0]] == ["b4.conv1.affine"]
    assert [n for n, _ in by_ws[1]] == ["b4.torgb.affine", "b8.conv0.affine"]
    assert [n for n, _ in by_ws[model.num_ws - 1]] == [f"b{model.resolution}.torgb.affine"]
    assert sum(len(v) for v in by_ws.values()) == 3 * len(model.net.synthesis.ws_slices()) - 1


def test_sefa_directions_are_the_top_eigenvectors_of_the_normalised_style_weights(model):
    layers = [0, 1, 2, 3]
    dirs = sefa(model, layers=layers, n_components=5, sigma_samples=300)
    v = np.stack([d.vector for d in dirs]).astype(np.float64)
    assert np.allclose(v @ v.T, np.eye(5), atol=1e-5)
    a = sefa_matrix(model.net, layers).numpy()
    assert a.shape == (6 * 64, model.w_dim)  # ws 1 and 3 are each read by two layers
    assert np.allclose(np.linalg.norm(a, axis=1), 1)
    expected = np.linalg.svd(a, compute_uv=False) ** 2
    gains = [float(np.sum((a @ x) ** 2)) for x in v]
    assert np.allclose(gains, expected[:5], rtol=1e-4)
    assert [d.metadata["eigenvalue"] for d in dirs] == pytest.approx(expected[:5].tolist(), rel=1e-4)
    assert all(d.layers == tuple(layers) and d.space == "w+" and d.source == "sefa" for d in dirs)
    with pytest.raises(GanlabError, match="ws indices"):
        sefa(model, layers=[model.num_ws])


def test_top_sefa_direction_changes_the_picture_more_than_the_bottom_one_and_random_ones(model):
    dirs = sefa(model, n_components=model.w_dim, sigma_samples=100)
    ws = sample_w(model, 8, seed=5).unsqueeze(1).repeat(1, model.num_ws, 1)
    base = render_edit(model, ws)

    def change(d: Direction) -> float:
        return float((render_edit(model, ws, Direction("x", d.vector, model.name), 3.0) - base).abs().mean())

    top = change(dirs[0])
    randoms = [change(Direction("r", unit(s, model.w_dim), model.name)) for s in range(4)]
    assert top > change(dirs[-1]) and top > np.mean(randoms)


def test_npz_round_trip_keeps_every_field(tmp_path):
    dirs = [Direction("smile", unit(1), "toy", space="w", source="svm", accuracy=0.91, sigma=1.7,
                      metadata={"n_pos": 40, "warnings": []}, normal=unit(3)),
            Direction("sefa0", unit(2), "toy", space="w+", layers=(0, 1, 2), source="sefa", sigma=0.6)]
    path = save_directions(dirs, tmp_path / "d.npz")
    back = load_directions(path, "toy", W_DIM)
    for a, b in zip(dirs, back):
        assert np.array_equal(a.vector, b.vector)
        assert (a.normal is None and b.normal is None) or np.array_equal(a.normal, b.normal)
        assert (a.name, a.model_id, a.space, a.layers, a.source, a.accuracy, a.sigma, a.metadata) == \
               (b.name, b.model_id, b.space, b.layers, b.source, b.accuracy, b.sigma, b.metadata)
    assert back[0].normal is not None and back[1].normal is None


def test_loading_refuses_another_models_directions_and_the_wrong_w_dim(tmp_path):
    path = save_directions([Direction("smile", unit(1), "toyfaces-64")], tmp_path / "d.npz")
    with pytest.raises(GanlabError, match="'toyfaces-64', not 'stylegan2-ffhq-1024'"):
        load_directions(path, "stylegan2-ffhq-1024", W_DIM)
    with pytest.raises(ShapeError, match=r"expected \[K, 512\]"):
        load_directions(path, "toyfaces-64", 512)
    (tmp_path / "junk.npz").write_bytes(b"not a zip")
    with pytest.raises(GanlabError, match="not a readable"):
        load_directions(tmp_path / "junk.npz", "toyfaces-64", W_DIM)


def test_direction_validates_what_it_is_given():
    assert np.linalg.norm(Direction("t", torch.tensor([3.0, 4.0]), "m").vector) == pytest.approx(1)
    with pytest.raises(GanlabError, match="zero"):
        Direction("z", np.zeros(4), "m")
    with pytest.raises(GanlabError, match="source"):
        Direction("s", unit(1), "m", source="magic")
    with pytest.raises(ShapeError):
        Direction("2d", np.ones((2, 2)), "m")


def test_learn_from_images_projects_then_learns_and_streams_progress(model):
    with torch.no_grad():
        images = model.synthesize(model.sample_z(4, seed=3), space="z")
    cfg = ProjectionConfig(num_steps=2, w_avg_samples=200, preview_every=0)
    records = list(learn_from_images(model, images[:2], images[2:], "tiny", config=cfg, batch_size=3,
                                     distance=Distance(FALLBACK_NAME, fallback_distance), sigma_samples=200))
    progress, last = records[:-1], records[-1]
    assert all(isinstance(r, LearnProgress) for r in progress) and isinstance(last, LearnedDirection)
    assert [(r.first, r.step) for r in progress] == [(0, 1), (0, 2), (3, 1), (3, 2)]
    assert last.ws_pos.shape == (2, model.num_ws, model.w_dim) and last.ws_neg.shape == (2, model.num_ws, model.w_dim)
    assert last.direction.model_id == model.name and last.direction.w_dim == model.w_dim
    assert last.report.folds == 2 and len(last.report.warnings) >= 2


class FakeJudge:
    """Labels a picture 'bright' by its mean pixel value: a judge that needs no training."""

    def predict(self, img: torch.Tensor) -> dict[str, np.ndarray]:
        mean = img.mean(dim=[1, 2, 3]).numpy()
        return {"bright": mean > np.median(mean), "never": np.zeros(len(mean), bool)}


def test_ship_directions_labels_samples_and_skips_attributes_nobody_has(model):
    w, labels = label_samples(model, FakeJudge(), 12, seed=2, batch=5)
    assert w.shape == (12, model.w_dim) and labels["bright"].shape == (12,)
    assert torch.equal(w, sample_w(model, 12, seed=2, batch=5))
    dirs = ship_directions(model, FakeJudge(), n=40, attributes=("bright", "never"), seed=2)
    assert [d.name for d in dirs] == ["bright"]
    assert dirs[0].metadata["labelled_by"] == "FakeJudge" and dirs[0].accuracy is not None
