"""The BigGAN encoder (image -> z and class): training, files, and BigGAN inversion started from it."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from ganlab.errors import GanlabError
from ganlab.invert.biggan import InversionConfig, InversionResult, invert, truncated_normal
from ganlab.invert.losses import FALLBACK_NAME, Distance, fallback_distance
from ganlab.invert.object_encoder import (ObjectEncoder, ObjectEncoderConfig, encode, encoder_start,
                                          load_object_encoder, save_object_encoder)
from ganlab.train.object_encoder import ObjectEncoderTrainConfig, export_object_encoder, train_object_encoder
from ganlab.models.registry import Registry, load_model

FALLBACK = Distance(FALLBACK_NAME, fallback_distance)
SMALL = dict(channel_base=256, channel_max=16, hidden=64)


@pytest.fixture(scope="module")
def model():
    torch.set_num_threads(1)
    return load_model(Registry(), "toyobjects-64")


@pytest.fixture(scope="module")
def trained(model, tmp_path_factory):
    """120 steps on generated pairs and rendered objects: enough for the class head to learn."""
    run_dir = tmp_path_factory.mktemp("objenc")
    tcfg = ObjectEncoderTrainConfig(steps=120, batch=8, lr=3e-3, distance_weight=0.0, checkpoint_every=60)
    records = list(train_object_encoder(model, tcfg, run_dir, ecfg=ObjectEncoderConfig.for_model(model, **SMALL)))
    return run_dir, records


def _generated(model, n=24, seed=99):
    gen = torch.Generator().manual_seed(seed)
    y = torch.arange(n) % model.num_classes
    z = truncated_normal((n, model.z_dim), 1.0, gen)
    with torch.no_grad():
        return model.synthesize(z, c=F.one_hot(y, model.num_classes).float()).clamp(-1, 1), y


def test_outputs_stay_in_biggans_range(model):
    enc = ObjectEncoder(ObjectEncoderConfig.for_model(model, **SMALL))
    with torch.no_grad():
        enc.z_head.bias.fill_(50.0)  # however far the head pushes, z stays inside [-2, 2]
        z, logits = enc(torch.zeros(3, 3, 64, 64))
    assert z.shape == (3, model.z_dim) and logits.shape == (3, model.num_classes)
    assert z.abs().max() <= 2.0
    with pytest.raises(GanlabError):
        enc(torch.zeros(1, 3, 32, 32))


def test_training_teaches_the_class_and_checkpoints(model, trained, tmp_path):
    run_dir, records = trained
    assert [r.step for r in records] == list(range(1, 121))
    assert [r.step for r in records if r.checkpoint] == [60, 120]
    assert {"latent", "class", "pixel_gen", "class_real", "pixel_real"} <= set(records[0].losses)
    enc = load_object_encoder(export_object_encoder(run_dir, tmp_path / "e", model), model)
    img, y = _generated(model)
    z, classes = encode(enc, model, img, truncation=0.5)
    assert z.abs().max() <= 1.0  # clamped to the truncation range asked for
    accuracy = (classes == y).float().mean().item()
    assert accuracy > 0.3, accuracy  # chance is 0.1
    assert all(p.grad is None for p in model.net.parameters())


def test_files_round_trip_and_refuse_other_models(model, trained, tmp_path):
    folder = export_object_encoder(trained[0], tmp_path / "e", model)
    enc = load_object_encoder(folder, model)
    again = load_object_encoder(save_object_encoder(enc, tmp_path / "again"), model)
    img, _ = _generated(model, n=2)
    assert all(torch.equal(a, b) for a, b in zip(enc(img), again(img)))
    faces = load_model(Registry(), "toyfaces-64")
    with pytest.raises(GanlabError, match="trained for 'toyobjects-64'"):
        load_object_encoder(folder, faces)


def test_inversion_starts_from_the_encoder_and_skips_the_class_search(model, trained, tmp_path):
    enc = load_object_encoder(export_object_encoder(trained[0], tmp_path / "e", model), model)
    img, _ = _generated(model, n=2, seed=5)
    init = encoder_start(enc, model, img)
    cfg = InversionConfig(num_steps=3, starts=2, preview_every=0, initial_learning_rate=0.0,
                          class_learning_rate=0.0)  # no moves: the kept start shows where each began
    records = list(invert(model, img, "auto", cfg, distance=FALLBACK, init=init))
    result = records[-1]
    assert isinstance(result, InversionResult) and result.steps_run == 3  # no screening or shortlist phases
    assert result.classes == [int(c) for c in init[1]]
    assert all("from the encoder" in r.note for r in records[:-1])
    starts = result.start_losses
    first_kept = (starts.argmin(1) == 0).tolist()
    for i, kept in enumerate(first_kept):
        if kept:
            assert torch.allclose(result.z[i], init[0][i].cpu())
    forced = encoder_start(enc, model, img, cls="star")
    assert forced[1].tolist() == [3, 3]
    with pytest.raises(GanlabError, match="init z"):
        next(invert(model, img, "auto", cfg, distance=FALLBACK, init=(init[0][:1], init[1])))


def test_encoder_start_beats_a_random_start_at_the_same_budget(model, trained, tmp_path):
    """With the class known, E's z is a better first start than random z (one start each, same steps)."""
    enc = load_object_encoder(export_object_encoder(trained[0], tmp_path / "e", model), model)
    img, y = _generated(model, n=8, seed=21)
    cfg = InversionConfig(num_steps=10, starts=1, preview_every=0)
    z, _ = encode(enc, model, img)
    *_, from_enc = invert(model, img, "auto", cfg, distance=FALLBACK, init=(z, y))
    losses = []
    for seed in range(3):
        random_z = truncated_normal(z.shape, 1.0, torch.Generator().manual_seed(seed))
        *_, rand = invert(model, img, "auto", InversionConfig(num_steps=10, starts=1, preview_every=0, seed=seed),
                          distance=FALLBACK, init=(random_z, y))
        losses.append(np.mean([m["loss"] for m in rand.metrics]))
    assert np.mean([m["loss"] for m in from_enc.metrics]) < np.mean(losses)
