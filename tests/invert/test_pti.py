"""Pivotal tuning reaches a target the pivot alone cannot, keeps the rest of the latent space, streams and
stops like the projector, and never changes the shared model."""

from __future__ import annotations

import threading

import pytest
import torch

from ganlab.data.toyfaces import render_faces
from ganlab.errors import GanlabError
from ganlab.imaging import from_uint8
from ganlab.invert.losses import FALLBACK_NAME, Distance, fallback_distance
from ganlab.invert.pti import PTIConfig, PTIResult, pti_project
from ganlab.invert.projector import ProjectionStep
from tests.invert.conftest import run_to_result

FALLBACK = Distance(FALLBACK_NAME, fallback_distance)
FAST = dict(pivot_steps=10, w_avg_samples=500, preview_every=0)


@pytest.fixture(scope="module")
def face():
    """A held-out rendered face (drawn by the dataset, not the generator): `img` [1, 3, 64, 64]."""
    return from_uint8(render_faces(1, 10 ** 9 + 7, 64)[0])


def _run(model, target, **cfg):
    return run_to_result(pti_project(model, target, PTIConfig(**{**FAST, **cfg}), distance=FALLBACK))


def test_tuning_renders_the_target_better_than_its_pivot_and_streams_numbered_records(model, face):
    _, pivot = _run(model, face, tune_steps=0)
    steps, result = _run(model, face, tune_steps=30, preview_every=10)
    assert isinstance(result, PTIResult) and result.tuned[0] is not None and pivot.tuned == [None]
    assert [s.step for s in steps] == list(range(1, 41)) and {s.total for s in steps} == {40}
    assert [s.step for s in steps if s.preview is not None] == [10, 20, 30, 40]
    assert steps[-1].eta_s == 0 and "tuning" in steps[-1].note and "locality" in steps[-1].losses
    assert torch.equal(result.ws, pivot.ws)  # the pivot stays; only the weights move
    assert result.metrics[0]["psnr"] > pivot.metrics[0]["psnr"] + 1.0
    assert result.steps_run == 40


def test_the_shared_model_is_never_changed(model, face):
    before = {k: v.clone() for k, v in model.net.state_dict().items()}
    z = model.sample_z(2, seed=5)
    with torch.no_grad():
        plain = model.synthesize(z, space="z")
    _, result = _run(model, face, tune_steps=5)
    with torch.no_grad():
        tuned = result.tuned[0].apply(model).synthesize(z, space="z")
        again = model.synthesize(z, space="z")
    assert all(torch.equal(before[k], v) for k, v in model.net.state_dict().items())
    assert torch.equal(plain, again) and not torch.equal(plain, tuned)


def test_the_locality_regulariser_keeps_random_latents_closer_to_their_old_pictures(model, face):
    z = model.sample_z(16, seed=9)
    with torch.no_grad():
        plain = model.synthesize(z, space="z")
    change = {}
    for weight in (0.0, 10.0):
        _, result = _run(model, face, tune_steps=40, locality_weight=weight, learning_rate=3e-3)
        with torch.no_grad():
            change[weight] = float((result.tuned[0].apply(model).synthesize(z, space="z") - plain).abs().mean())
    assert change[10.0] < 0.7 * change[0.0]


def test_stop_during_tuning_keeps_the_tuning_done_so_far(model, face):
    cancel = threading.Event()
    records = []
    for rec in pti_project(model, face, PTIConfig(**FAST, tune_steps=50), distance=FALLBACK, cancel=cancel):
        records.append(rec)
        if isinstance(rec, ProjectionStep) and rec.step == FAST["pivot_steps"] + 3:
            cancel.set()
    result = records[-1]
    assert result.stopped == "cancelled" and result.steps_run == FAST["pivot_steps"] + 3
    assert result.tuned[0] is not None and any(d.abs().max() > 0 for d in result.tuned[0].deltas.values())


def test_a_stop_while_finding_the_pivot_leaves_the_latent_untuned(model, face):
    cancel = threading.Event()
    cancel.set()
    _, result = run_to_result(pti_project(model, face, PTIConfig(**FAST), distance=FALLBACK, cancel=cancel))
    assert result.stopped == "cancelled" and result.tuned == [None]


def test_a_batch_is_tuned_target_by_target_each_with_its_own_weights(model, face):
    two = torch.cat([face, from_uint8(render_faces(1, 10 ** 9 + 8, 64)[0])])
    steps, result = _run(model, two, tune_steps=3)
    assert [s.step for s in steps][-6:] == list(range(11, 17)) and "1 of 2" in steps[-6].note
    assert len(result.tuned) == 2 and result.tuned[0].deltas.keys() == result.tuned[1].deltas.keys()
    assert not torch.equal(result.tuned[0].deltas["b64.conv1.weight"], result.tuned[1].deltas["b64.conv1.weight"])


@pytest.mark.parametrize("bad, message", [
    (dict(pivot="z"), "pivot must be"), (dict(pivot_steps=0), "at least 1 pivot step"),
    (dict(learning_rate=0.0), "positive learning rate"), (dict(locality_weight=-1.0), "weights of 0 or more"),
    (dict(locality_every=0), "locality interval")])
def test_bad_settings_are_refused_before_any_work(model, face, bad, message):
    with pytest.raises(GanlabError, match=message):
        next(pti_project(model, face, PTIConfig(**bad), distance=FALLBACK))


def test_a_target_of_the_wrong_size_is_refused(model):
    with pytest.raises(GanlabError, match="target has shape"):
        next(pti_project(model, torch.zeros(1, 3, 32, 32), distance=FALLBACK))
