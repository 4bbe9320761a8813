"""The encoder: shapes, learning, resuming, save/load safety, and hybrid inversion built on it."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from ganlab.errors import GanlabError
from ganlab.cli import main
from ganlab.invert.encoder import EncoderConfig, build_encoder, load_encoder, save_encoder
from ganlab.train.encoder import EncoderTrainConfig, export_encoder, train_encoder
from ganlab.invert.hybrid import PRESETS, hybrid_project
from ganlab.invert.losses import FALLBACK_NAME, Distance, fallback_distance
from ganlab.invert.projector import ProjectionConfig, ProjectionResult, ProjectionStep
from ganlab.models.stylegan2 import Generator, StyleGAN2Config
from ganlab.models.stylegan2_model import StyleGAN2Model

TINY = StyleGAN2Config(z_dim=16, w_dim=16, img_resolution=16, mapping_layers=2, channel_base=128, channel_max=16)
SMALL_E = dict(channel_base=128, channel_max=16, hidden=64)
FALLBACK = Distance(FALLBACK_NAME, fallback_distance)
FAST_PROJ = ProjectionConfig(w_avg_samples=200, preview_every=0)


def _render(n: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (n, 16, 16, 3), dtype=np.uint8)


@pytest.fixture(scope="module")
def model() -> StyleGAN2Model:
    torch.set_num_threads(1)
    torch.manual_seed(0)
    return StyleGAN2Model(Generator(TINY), name="tiny")


@pytest.fixture(scope="module")
def trained(model, tmp_path_factory):
    """A 60-step run on generated pairs only (the latent loss is the signal under test)."""
    run_dir = tmp_path_factory.mktemp("enc")
    tcfg = EncoderTrainConfig(steps=60, batch=8, lr=3e-3, real_weight=0.0, checkpoint_every=20)
    records = list(train_encoder(model, tcfg, run_dir, ecfg=EncoderConfig.for_model(model, **SMALL_E)))
    return run_dir, records


def _target(model, seed=5, n=2):
    with torch.no_grad():
        return model.net.synthesis(model.mapping(model.sample_z(n, seed=seed))).clamp(-1, 1)


def test_shapes_and_mean_start(model):
    enc = build_encoder(model, EncoderConfig.for_model(model, **SMALL_E))
    img = torch.zeros(3, 3, 16, 16)
    ws = enc(img)
    assert ws.shape == (3, model.num_ws, model.w_dim)
    assert enc.encode_w(img).shape == (3, model.w_dim)
    w_avg = model.w_stats(n=2000)[0][0]
    assert (ws - w_avg).abs().mean() < (ws - 0).abs().mean()  # starts near the mean w, not near 0
    with pytest.raises(GanlabError):
        enc(torch.zeros(1, 3, 8, 8))


def test_training_reduces_latent_loss_and_leaves_g_frozen(model, trained, tmp_path):
    """Judged on one fixed held-out batch: per-step losses swing with each step's random z."""
    run_dir, records = trained
    assert [r.step for r in records] == list(range(1, 61))
    with torch.no_grad():
        ws = model.mapping(model.sample_z(64, seed=999))
        img = model.net.synthesis(ws).clamp(-1, 1)
    torch.manual_seed(0)  # the same initial weights the run started from
    before = F.mse_loss(build_encoder(model, EncoderConfig.for_model(model, **SMALL_E))(img), ws).item()
    after = F.mse_loss(load_encoder(export_encoder(run_dir, tmp_path, model), model)(img), ws).item()
    assert after < 0.8 * before, (before, after)
    assert all(not p.requires_grad and p.grad is None for p in model.net.parameters())
    assert records[-1].checkpoint is not None and records[-1].eta_s == 0


def test_real_branch_reports_its_losses(model, tmp_path):
    tcfg = EncoderTrainConfig(steps=1, batch=2)
    (rec,) = train_encoder(model, tcfg, tmp_path, render=_render, ecfg=EncoderConfig.for_model(model, **SMALL_E))
    assert {"latent", "pixel_gen", "dist_gen", "pixel_real", "dist_real", "total"} <= set(rec.losses)
    assert rec.distance_name == FALLBACK_NAME


def test_resume_continues_step_count(model, tmp_path):
    ecfg = EncoderConfig.for_model(model, **SMALL_E)
    first = list(train_encoder(model, EncoderTrainConfig(steps=2, batch=2, real_weight=0), tmp_path, ecfg=ecfg))
    more = list(train_encoder(model, EncoderTrainConfig(steps=4, batch=2, real_weight=0), tmp_path, ecfg=ecfg))
    assert [r.step for r in first] == [1, 2]
    assert [r.step for r in more] == [3, 4]
    assert list(train_encoder(model, EncoderTrainConfig(steps=4, batch=2), tmp_path, ecfg=ecfg)) == []


def test_a_resumed_run_with_new_settings_is_a_new_annealed_stage(model, tmp_path):
    """Anneal spans the stage: an interrupted stage goes on where it was, a longer run starts a new one;
    config.json keeps the settings of every stage."""
    ecfg = EncoderConfig.for_model(model, **SMALL_E)
    list(train_encoder(model, EncoderTrainConfig(steps=2, batch=2, real_weight=0), tmp_path, ecfg=ecfg))
    fine = EncoderTrainConfig(steps=6, batch=2, real_weight=0, lr=1e-3, anneal=True, checkpoint_every=1)
    for rec in train_encoder(model, fine, tmp_path, ecfg=ecfg):
        if rec.step == 4:
            break                                              # interrupted half way through the stage
    assert torch.load(tmp_path / "checkpoint.pt", weights_only=True)["stage"].tolist() == [2, 6]
    lrs = []
    for rec in train_encoder(model, fine, tmp_path, ecfg=ecfg):
        lrs.append(torch.load(tmp_path / "checkpoint.pt", weights_only=True)["opt"]["param_groups"][0]["lr"])
    stage_t = np.array([2, 3]) / 4                 # steps 5 and 6 ran at t = (steps done before - 2) / (6 - 2)
    assert lrs == pytest.approx(1e-3 * (0.05 + 0.95 * 0.5 * (1 + np.cos(np.pi * stage_t))))
    stages = json.loads((tmp_path / "config.json").read_text())["stages"]
    assert [(s["from"], s["to"], s["training"]["anneal"]) for s in stages] == [(0, 2, False), (2, 6, True)]


def test_the_train_encoder_command_passes_the_stage_settings(tmp_path, capsys):
    command = ["train-encoder", "--model", "toyfaces-64", "--steps", "1", "--batch", "1", "--run-dir", str(tmp_path),
               "--device", "cpu"]
    assert main(command + ["--lr", "2e-4", "--real-weight", "2.5", "--anneal"]) == 0
    training = json.loads((tmp_path / "config.json").read_text())["training"]
    assert (training["lr"], training["real_weight"], training["anneal"], training["steps"]) == (2e-4, 2.5, True, 1)
    for bad in (["--lr", "0"], ["--lr", "nan"], ["--real-weight", "-1"]):
        assert main(command + bad) == 2
        assert "--lr must be positive" in capsys.readouterr().err


def test_a_run_from_before_stages_keeps_its_history(model, tmp_path):
    """An old checkpoint (no stage) and config.json (no stages), stopped at step 2 of 4: resuming to 4
    goes on with that stage; resuming to 6 then starts a new one, and both stay in the history."""
    ecfg = EncoderConfig.for_model(model, **SMALL_E)
    old = EncoderTrainConfig(steps=4, batch=2, real_weight=0, checkpoint_every=1)
    for rec in train_encoder(model, old, tmp_path, ecfg=ecfg):
        if rec.step == 2:
            break
    ckpt = torch.load(tmp_path / "checkpoint.pt", weights_only=True)
    del ckpt["stage"]
    torch.save(ckpt, tmp_path / "checkpoint.pt")
    config = json.loads((tmp_path / "config.json").read_text())
    del config["stages"]
    (tmp_path / "config.json").write_text(json.dumps(config))
    list(train_encoder(model, old, tmp_path, ecfg=ecfg))
    assert torch.load(tmp_path / "checkpoint.pt", weights_only=True)["stage"].tolist() == [0, 4]
    list(train_encoder(model, replace(old, steps=6, anneal=True), tmp_path, ecfg=ecfg))
    stages = json.loads((tmp_path / "config.json").read_text())["stages"]
    assert [(s["from"], s["to"], s["training"]["anneal"]) for s in stages] == [(0, 4, False), (4, 6, True)]


def test_save_load_round_trip_and_refusals(model, trained, tmp_path):
    run_dir, _ = trained
    folder = export_encoder(run_dir, tmp_path / "tiny", model)
    assert {p.name for p in folder.iterdir()} == {"config.json", "model.safetensors"}
    enc = load_encoder(folder, model)
    img = _target(model)
    again = load_encoder(save_encoder(enc, tmp_path / "again"), model)
    assert torch.equal(enc(img), again(img))

    other = StyleGAN2Model(Generator(TINY), name="other")
    with pytest.raises(GanlabError, match="trained for 'tiny'"):
        load_encoder(folder, other)
    wider = StyleGAN2Model(Generator(StyleGAN2Config(**{**TINY.to_dict(), "w_dim": 8})), name="tiny")
    with pytest.raises(GanlabError, match="num_ws, w_dim, resolution"):
        load_encoder(folder, wider)


@pytest.fixture(scope="module")
def encoder(model, trained, tmp_path_factory):
    return export_encoder(trained[0], tmp_path_factory.mktemp("exp"), model)


def test_hybrid_fast_is_encoder_only(model, encoder):
    enc = load_encoder(encoder, model)
    records = list(hybrid_project(model, enc, _target(model), "fast", FAST_PROJ, distance=FALLBACK))
    assert PRESETS["fast"] == 0 and len(records) == 2
    first, result = records
    assert isinstance(first, ProjectionStep) and first.step == 0 and first.preview.shape == (2, 16, 16, 3)
    assert isinstance(result, ProjectionResult) and result.steps_run == 0
    assert torch.allclose(result.ws, enc(_target(model)))
    assert np.isclose(np.mean([m["distance"] for m in result.metrics]), first.losses["distance"], atol=1e-5)


def test_hybrid_starts_projector_from_encoder(model, encoder):
    enc = load_encoder(encoder, model)
    records = list(hybrid_project(model, enc, _target(model), 3, FAST_PROJ, distance=FALLBACK))
    first, steps, result = records[0], records[1:-1], records[-1]
    assert first.step == 0 and [r.step for r in steps] == [1, 2, 3]
    assert isinstance(result, ProjectionResult) and result.steps_run == 3 and result.w is None
    # step 1's loss is measured before its update, at E's ws with the model's constant noise and no
    # latent noise: exactly the encoder's (unclamped) reconstruction
    with torch.no_grad():
        start = FALLBACK(model.net.synthesis(enc(_target(model)), noise_mode="const"), _target(model)).mean()
    assert steps[0].losses["distance"] == pytest.approx(start.item(), rel=1e-5)
    assert not torch.allclose(result.ws, enc(_target(model)))


def test_a_short_refinement_of_the_shipped_encoder_improves_on_its_start():
    from ganlab.data.toyfaces import render_faces
    from ganlab.imaging import from_uint8
    from ganlab.invert.encoder import find_encoder
    from ganlab.models.registry import Registry, load_model

    faces = load_model(Registry(), "toyfaces-64")
    target = from_uint8(render_faces(4, seed=10 ** 9 + 3, size=64)[0])
    records = list(hybrid_project(faces, find_encoder(faces), target, 10, FAST_PROJ, distance=FALLBACK))
    start, result = records[0], records[-1]
    assert start.step == 0 and result.steps_run == 10
    assert np.mean([m["distance"] for m in result.metrics]) < 0.9 * start.losses["distance"]


def test_hybrid_refines_with_the_tuned_pixel_loss_unless_the_caller_sets_one(model, encoder):
    enc = load_encoder(encoder, model)
    for cfg, term in ((FAST_PROJ, "pixel_mse"), (replace(FAST_PROJ, pixel_loss="l1", pixel_weight=0.5), "pixel_l1")):
        records = list(hybrid_project(model, enc, _target(model), 2, cfg, distance=FALLBACK))
        assert all(set(r.losses) == {"distance", "noise_reg", term} for r in records[1:-1])


def test_hybrid_without_encoder_falls_back_and_says_so(model):
    records = list(hybrid_project(model, None, _target(model), "fast", FAST_PROJ, distance=FALLBACK))
    steps = [r for r in records if isinstance(r, ProjectionStep)]
    assert len(steps) == 100 and all("no encoder for 'tiny'" in r.note for r in steps)
    assert isinstance(records[-1], ProjectionResult)
    with pytest.raises(GanlabError, match="preset"):
        next(hybrid_project(model, None, _target(model), "quick", FAST_PROJ, distance=FALLBACK))
