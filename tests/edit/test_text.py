"""Text-feature machinery on the bundled face model, read by a quickly trained face judge (a real,
differentiable scorer): directions from scores, optimisation toward a score, trained directions."""

from __future__ import annotations

import threading

import numpy as np
import pytest
import torch

import ganlab
from ganlab.edit.directions import sample_w
from ganlab.edit.text import (DirectionTrainConfig, TextEditConfig, TextEditResult, check_phrase,
                              direction_from_scores, optimise_toward, prompt_starts, score_samples, train_direction)
from ganlab.errors import GanlabError, ShapeError
from ganlab.eval.judges import train_face_judge
from ganlab.invert.losses import FALLBACK_NAME, Distance, fallback_distance
from ganlab.invert.projector import ProjectionStep


@pytest.fixture(scope="module")
def lab():
    torch.manual_seed(0)
    return ganlab.load("toyfaces-64", "cpu")


@pytest.fixture(scope="module")
def judge():
    return train_face_judge(n_train=3000, steps=300, n_test=200)


def _last(records):
    out = None
    for rec in records:
        out = rec
    return out


def test_phrases_are_checked_before_any_model_sees_them():
    assert check_phrase("  a   smiling\nface ") == "a smiling face"
    with pytest.raises(GanlabError, match="empty"):
        check_phrase("   ")
    with pytest.raises(GanlabError, match="under 200"):
        check_phrase("x" * 201)


def test_a_direction_from_scores_points_where_the_labels_do(lab, judge):
    """Hair colour is what the judge reads surely: the boundary between the blondest tenth and the least
    blond quarter of the samples is the shipped (label-learned) blond direction, nearly."""
    records = list(score_samples(lab.model, judge.scorer("hair_blond"), 600, seed=5))
    assert all(isinstance(r, ProjectionStep) for r in records[:-1]) and records[-2].step == 600
    w, scores = records[-1]
    assert w.shape == (600, lab.model.w_dim) and scores.shape == (600,)
    direction, report = direction_from_scores(lab.model, w, scores, "blond")
    assert (report.n_pos, report.n_neg) == (60, 150)
    assert float(np.dot(direction.vector, lab.find_direction("hair_blond").vector)) > 0.8
    with pytest.raises(ShapeError):
        direction_from_scores(lab.model, w[:10], scores, "blond")


def test_scoring_stops_with_what_it_has(lab, judge):
    cancel = threading.Event()
    seen = 0
    for rec in score_samples(lab.model, judge.scorer("smile"), 256, batch=32, cancel=cancel):
        if isinstance(rec, ProjectionStep):
            seen = rec.step
            cancel.set()
        else:
            w, scores = rec
    assert seen == 32 and len(w) == len(scores) == 32


def test_optimising_toward_a_score_raises_it_and_stays_near(lab, judge):
    scorer = judge.scorer("sunglasses")
    ws = lab.model.mapping(lab.model.sample_z(2, seed=11)).detach()
    with torch.no_grad():
        before = scorer(lab.model.synthesize(ws, space="w+"))
    records = list(optimise_toward(lab.model, scorer, ws, TextEditConfig(steps=20, preview_every=5)))
    result = records[-1]
    assert isinstance(result, TextEditResult) and result.steps_run == 20 and result.stopped == ""
    assert [r.step for r in records[:-1] if r.preview is not None] == [5, 10, 15, 20]
    assert (torch.tensor(result.scores) > before.cpu() + 1).all()
    assert result.ws.shape == ws.shape and result.images.shape == (2, 64, 64, 3)
    moved = float(((result.ws - ws) ** 2).sum(-1).mean() / lab.model.w_stats()[1] ** 2)
    assert 0 < moved < 1, "the L2 term keeps it within one typical latent's distance"
    near = _last(optimise_toward(lab.model, scorer, ws, TextEditConfig(steps=20, l2_weight=50)))
    assert float(((near.ws - ws) ** 2).sum()) < float(((result.ws - ws) ** 2).sum())


def test_optimisation_checks_its_input_and_stops_keeping_its_steps(lab, judge):
    with pytest.raises(ShapeError):
        _last(optimise_toward(lab.model, judge.scorer("smile"), torch.zeros(1, 3, lab.model.w_dim), TextEditConfig()))
    with pytest.raises(GanlabError, match="steps"):
        _last(optimise_toward(lab.model, judge.scorer("smile"), lab.model.mean_latent("w+"), TextEditConfig(steps=0)))
    cancel = threading.Event()
    result = None
    for rec in optimise_toward(lab.model, judge.scorer("smile"), lab.model.mean_latent("w+"),
                               TextEditConfig(steps=50), cancel=cancel):
        if isinstance(rec, ProjectionStep) and rec.step == 7:
            cancel.set()
        result = rec
    assert result.steps_run == 7 and result.stopped == "cancelled"


def test_prompt_starts_are_the_best_scoring_samples(lab, judge):
    scorer = judge.scorer("beard")
    starts = prompt_starts(lab.model, scorer, 4, candidates=8, seed=3)
    assert starts.shape == (4, lab.model.num_ws, lab.model.w_dim)
    with torch.no_grad():
        chosen = scorer(lab.model.synthesize(starts, space="w+")).mean()
        plain = scorer(lab.model.synthesize(lab.model.mapping(lab.model.sample_z(32, seed=3), truncation=0.7),
                                            space="w+")).mean()
    assert chosen > plain
    with pytest.raises(GanlabError, match="1 to 64"):
        prompt_starts(lab.model, scorer, 0)


def test_a_trained_direction_raises_its_score(lab, judge):
    scorer = judge.scorer("hair_grey")
    distance = Distance(FALLBACK_NAME, fallback_distance)
    records = list(train_direction(lab.model, scorer, "grey", DirectionTrainConfig(steps=40, batch=8, seed=1),
                                   distance))
    direction = records[-1]
    assert [r.step for r in records[:-1]] == list(range(1, 41))
    assert direction.source == "trained" and direction.metadata["steps"] == 40
    assert records[-2].losses["fit"] < records[0].losses["fit"]
    w = sample_w(lab.model, 64, seed=99)
    random = torch.randn(lab.model.w_dim, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        base = scorer(lab.model.synthesize(w, space="w"))

        def rise(vector: torch.Tensor) -> torch.Tensor:
            step = vector / vector.norm() * direction.sigma * 2
            return scorer(lab.model.synthesize(w + step, space="w")) - base

        along, aside = rise(torch.from_numpy(direction.vector)), rise(random)
    assert float((along > 0).float().mean()) > 0.8
    assert float(along.mean()) > float(aside.abs().mean()) + 1


def test_a_scorer_that_cannot_tell_samples_apart_is_refused(lab):
    with pytest.raises(GanlabError, match="same score"):
        _last(train_direction(lab.model, lambda img: img.sum((1, 2, 3)) * 0, "flat", DirectionTrainConfig(steps=2),
                              Distance(FALLBACK_NAME, fallback_distance)))


def test_the_judge_scores_a_colour_of_its_hair_head(judge):
    img = torch.zeros(2, 3, 64, 64, requires_grad=True)
    score = judge.scorer("hair_grey")(img)
    score.sum().backward()
    assert score.shape == (2,) and img.grad is not None and img.grad.abs().sum() > 0
    with pytest.raises(ValueError, match="no attribute"):
        judge.scorer("hair_purple")
