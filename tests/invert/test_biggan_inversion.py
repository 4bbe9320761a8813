"""BigGAN inversion streams records, keeps z in the truncation range, keeps the best start, picks a class."""

from __future__ import annotations

import threading

import pytest
import torch

from ganlab.errors import GanlabError, ShapeError
from ganlab.invert.biggan import InversionConfig, InversionResult, invert, truncated_normal
from ganlab.invert.losses import FALLBACK_NAME, Distance, fallback_distance
from ganlab.invert.projector import ProjectionStep
from ganlab.models.registry import Registry, load_model

FALLBACK = Distance(FALLBACK_NAME, fallback_distance)


@pytest.fixture(scope="module")
def model():
    torch.set_num_threads(1)
    return load_model(Registry(), "toyobjects-64")


@pytest.fixture(scope="module")
def target(model):
    with torch.no_grad():
        return model.synthesize(model.sample_z(2, seed=5), c=torch.eye(10)[[3, 6]]).clamp(-1, 1)


def _run(gen):
    records = list(gen)
    assert isinstance(records[-1], InversionResult) and all(isinstance(r, ProjectionStep) for r in records[:-1])
    return records[:-1], records[-1]


def test_records_stream_and_the_result_holds_latents_class_image_and_metrics(model, target):
    before = {k: v.clone() for k, v in model.net.state_dict().items()}
    cfg = InversionConfig(num_steps=8, starts=2, preview_every=4)
    steps, result = _run(invert(model, target, "star", cfg, distance=FALLBACK))
    assert [s.step for s in steps] == list(range(1, 9)) and all(s.total == 8 for s in steps)
    assert [s.step for s in steps if s.preview is not None] == [4, 8] and steps[-1].preview.shape == (2, 64, 64, 3)
    assert steps[-1].distance_name == FALLBACK_NAME and steps[-1].eta_s == 0
    assert steps[-1].losses["total"] < steps[0].losses["total"]
    assert result.z.shape == (2, model.z_dim) and result.c.shape == (2, model.num_classes)
    assert result.classes == [3, 3] and result.class_names == ["star", "star"] and result.candidates == []
    assert result.images.shape == (2, 64, 64, 3) and result.steps_run == 8 and result.stopped == ""
    assert set(result.metrics[0]) >= {"psnr", "ssim", "distance"}
    assert all(torch.equal(before[k], v) for k, v in model.net.state_dict().items())
    assert all(p.grad is None for p in model.net.parameters())


def test_entries_leaving_the_truncation_range_are_resampled(model, target):
    cfg = InversionConfig(num_steps=6, starts=2, truncation=0.4, initial_learning_rate=2.0, lr_rampup_length=0,
                          optimize_class=False, preview_every=0)
    steps, result = _run(invert(model, target, 3, cfg, distance=FALLBACK))
    assert sum(s.losses["resampled"] for s in steps) > 0
    assert result.z.abs().max() <= 0.8 and result.truncation == 0.4
    assert torch.equal(result.c, torch.eye(10)[[3, 3]])            # class vector left alone when asked
    draws = truncated_normal((20000,), 0.5, torch.Generator().manual_seed(0))
    assert draws.abs().max() <= 1.0 and draws.std() == pytest.approx(0.5 * 0.8796, abs=0.01)  # N(0,1) cut at +-2


def test_several_starts_keep_the_best_per_target(model, target):
    cfg = InversionConfig(num_steps=3, starts=3, preview_every=0)
    _, result = _run(invert(model, target, "heart", cfg, distance=FALLBACK))
    assert result.start_losses.shape == (2, 3)
    for i, m in enumerate(result.metrics):
        assert m["loss"] == pytest.approx(result.start_losses[i].min().item())
    with torch.no_grad():
        img = model.synthesize(result.z, c=result.c)
        again = (img - target).abs().flatten(1).mean(1) + FALLBACK(img, target)
    assert again.tolist() == pytest.approx(result.start_losses.min(1).values.tolist(), rel=1e-4)


def test_auto_class_screens_shortlists_and_returns_a_candidate(model, target):
    cfg = InversionConfig(num_steps=2, starts=2, screen_steps=2, top_k=2, shortlist_steps=2, preview_every=0)
    steps, result = _run(invert(model, target, "auto", cfg, distance=FALLBACK, candidates=["disc", "star", "ring"]))
    assert [s.step for s in steps] == list(range(1, 7)) and steps[-1].total == 6
    assert [s.note.split(";")[0] for s in steps[::2]] == ["screening 3 classes", "shortlist of 2 classes x 2 starts",
                                                         "main run"]
    for i in range(2):
        names = [name for name, _ in result.candidates[i]]
        losses = [loss for _, loss in result.candidates[i]]
        assert len(names) == 2 and set(names) <= {"disc", "star", "ring"} and losses == sorted(losses)
        assert result.class_names[i] == names[0] and result.classes[i] in (0, 3, 4)


def test_cancel_stops_at_the_next_step_with_the_best_so_far(model, target):
    cancel = threading.Event()
    records = []
    for rec in invert(model, target, "auto", InversionConfig(num_steps=50, preview_every=0), distance=FALLBACK,
                      cancel=cancel):
        records.append(rec)
        if isinstance(rec, ProjectionStep) and rec.step == 2:
            cancel.set()
    result = records[-1]
    assert result.stopped == "cancelled" and result.steps_run == 2 and result.z.shape == (2, model.z_dim)


def test_bad_inputs_are_reported(model, target):
    with pytest.raises(GanlabError, match="did you mean 'star'"):
        next(invert(model, target, "starr", distance=FALLBACK))
    with pytest.raises(ShapeError):
        next(invert(model, target[:, :, :32, :32], "star", distance=FALLBACK))
    with pytest.raises(GanlabError, match="truncation"):
        next(invert(model, target, "star", InversionConfig(truncation=0.0), distance=FALLBACK))
