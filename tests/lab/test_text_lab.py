"""The Lab's text verbs on the bundled face model and its bundled text model (toyclip-64), judged by a
quickly trained face judge; and what a real model says when CLIP's weights cannot be had."""

from __future__ import annotations

import dataclasses
import threading

import numpy as np
import pytest
import torch

import ganlab
from ganlab.edit.directions import sample_w
from ganlab.errors import GanlabError, WeightsUnavailable
from ganlab.eval.judges import train_face_judge
from ganlab.invert.projector import ProjectionStep
from ganlab.lab import Lab


@pytest.fixture(scope="module")
def lab():
    return ganlab.load("toyfaces-64", "cpu")


@pytest.fixture(scope="module")
def judge():
    return train_face_judge(n_train=3000, steps=300, n_test=200)


def _similarity(lab, latents, phrase: str) -> np.ndarray:
    with torch.no_grad():
        img = torch.cat([lab.model.synthesize(x.tensor, space=x.space) for x in latents])
        return lab.phrase_scorer(phrase)(img).numpy()


def test_the_demo_model_reads_pictures_with_the_bundled_text_model(lab):
    assert lab.text_model_name == "toyclip-64" and lab.neutral_phrase == "a face"
    assert lab.text_model.encode_text(["a bald face"]).shape[0] == 1


def test_a_phrase_gives_a_slider_that_adds_what_it_says(lab, judge):
    records = []
    direction = lab.direction_from_text("a face with sunglasses", samples=600, callback=records.append)
    assert direction.source == "text" and direction.name == "a face with sunglasses"
    assert direction.metadata["phrase"] == "a face with sunglasses" and direction.metadata["samples"] == 600
    assert records and records[-1].step == 600
    assert lab.directions["a face with sunglasses"] is direction
    w = sample_w(lab.model, 200, seed=4242)
    with torch.no_grad():
        before = judge.predict(lab.model.synthesize(w, space="w"))["sunglasses"]
        moved = w + torch.from_numpy(direction.vector) * direction.sigma * 3
        after = judge.predict(lab.model.synthesize(moved, space="w"))["sunglasses"]
    assert after[~before].mean() > 0.6, "most faces without sunglasses gain them at +3 sigma"


def test_a_phrase_slider_can_keep_another_direction_unchanged(lab):
    hair = lab.find_direction("hair_black")
    direction = lab.direction_from_text("a face with a beard", samples=400, keep=["hair_black"], remember=False)
    assert direction.metadata["conditioned_on"] == ["hair_black"]
    assert abs(float(np.dot(direction.vector, hair.normal))) < 1e-4
    assert "a face with a beard" not in lab.directions


def test_editing_toward_a_phrase_moves_latents_toward_it(lab):
    starts = lab.sample([3, 4, 5])
    records = []
    moved = [lab.edit_text(starts[0], "a bald face", preview_every=20, callback=records.append)]
    assert [r.step for r in records if r.preview is not None] == [20, 40, 60]
    moved += [lab.edit_text(x, "a bald face") for x in starts[1:]]
    assert moved[0].space == "w+" and moved[0].model_id == lab.name and "toward 'a bald face'" in moved[0].source
    rise = _similarity(lab, moved, "a bald face") - _similarity(lab, starts, "a bald face")
    assert rise.mean() > 0.03
    closer = lab.edit_text(starts[0], "a bald face", strength=0.25)
    ws = lab.model.to_ws(starts[0].tensor, starts[0].space)
    assert float((closer.tensor - ws).norm()) < float((moved[0].tensor - ws).norm())


def test_a_stopped_text_edit_keeps_its_steps(lab):
    cancel = threading.Event()
    result = None
    for rec in lab.edit_text_steps(lab.sample(5)[0], "a smiling face", steps=40, cancel=cancel):
        if isinstance(rec, ProjectionStep) and rec.step == 4:
            cancel.set()
        result = rec
    assert result.metrics["steps"] == 4


def test_a_prompt_gives_pictures_that_look_more_like_it_than_samples_do(lab):
    latents = lab.generate("a face with a beard", n=4, steps=20, seed=1)
    assert [x.name for x in latents] == [f"prompt-1-{i}" for i in range(4)]
    assert all(x.thumbnail.shape == (64, 64, 3) and "from the prompt" in x.source for x in latents)
    plain = lab.sample(range(100, 116), truncation=0.7)
    assert _similarity(lab, latents, "a face with a beard").mean() > _similarity(lab, plain, "a face with a beard").mean()


def test_a_direction_trained_against_a_phrase_raises_its_score(lab):
    direction = lab.train_direction("a face with blond hair", steps=30, remember=False)
    assert direction.source == "trained" and direction.name == "a face with blond hair"
    plain = lab.sample(range(200, 216))
    moved = [lab.edit(x, {direction: 2.0}) for x in plain]
    assert _similarity(lab, moved, "a face with blond hair").mean() > \
        _similarity(lab, plain, "a face with blond hair").mean()
    with pytest.raises(GanlabError, match="name the direction"):
        lab.train_direction(lambda img: img.mean((1, 2, 3)), steps=2)


def test_bad_words_and_the_wrong_model_family_are_refused(lab):
    with pytest.raises(GanlabError, match="empty"):
        lab.edit_text(lab.sample(0)[0], "   ")
    with pytest.raises(GanlabError, match="same"):
        lab.direction_from_text("a face")
    objects = ganlab.load("toyobjects-64", "cpu")
    with pytest.raises(GanlabError, match="no edit directions"):
        objects.generate("a red star")


def test_a_real_model_without_clip_weights_says_what_is_missing(lab, monkeypatch, tmp_path):
    monkeypatch.setenv("GANLAB_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("GANLAB_CACHE", str(tmp_path))
    real = Lab(lab.model, dataclasses.replace(lab.spec, text_model="clip-vit-b32"), lab.registry)
    with pytest.raises(WeightsUnavailable, match="CLIP") as err:
        real.direction_from_text("a smiling face", samples=16)
    assert "to fix" in str(err.value)


def test_an_identity_term_holds_what_the_identity_embedding_sees(lab, judge):
    """With the judge's features standing in for a face-identity net, a heavy identity weight keeps the
    edited picture's embedding nearer the start's than the same edit without it."""
    start = lab.sample(8)[0]

    def identity(img: torch.Tensor) -> torch.Tensor:
        return judge.net(img)[0]

    def drift(latent) -> float:
        with torch.no_grad():
            a = identity(lab.model.synthesize(start.tensor, space="w+"))
            b = identity(lab.model.synthesize(latent.tensor, space="w+"))
        return float(1 - torch.nn.functional.cosine_similarity(a, b).mean())

    free = lab.edit_text(start, "a face with blond hair", steps=30)
    held = lab.edit_text(start, "a face with blond hair", steps=30, identity=identity, identity_weight=50.0)
    assert drift(held) < drift(free)
