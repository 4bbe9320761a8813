"""Landscape learning: theta's shapes, its training on recorded trajectories, inversion through it, and
the method switch the CLI and the app share."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ganlab.errors import GanlabError
from ganlab.invert.landscape import (LandscapeConfig, build_landscape, landscape_project, load_landscape,
                                     save_landscape)
from ganlab.train.landscape import LandscapeTrainConfig, export_landscape, train_landscape
from ganlab.invert.losses import FALLBACK_NAME, Distance, fallback_distance
from ganlab.invert.methods import invert, result_space
from ganlab.invert.projector import ProjectionConfig, ProjectionResult, ProjectionStep
from ganlab.models.stylegan2 import Generator, StyleGAN2Config
from ganlab.models.stylegan2_model import StyleGAN2Model

TINY = StyleGAN2Config(z_dim=16, w_dim=16, img_resolution=16, mapping_layers=2, channel_base=128, channel_max=16)
FALLBACK = Distance(FALLBACK_NAME, fallback_distance)


@pytest.fixture(scope="module")
def model() -> StyleGAN2Model:
    torch.set_num_threads(1)
    torch.manual_seed(0)
    return StyleGAN2Model(Generator(TINY), name="tiny")


def _lcfg(model: StyleGAN2Model) -> LandscapeConfig:
    return LandscapeConfig(model_id=model.name, num_ws=model.num_ws, w_dim=model.w_dim,
                           resolution=model.resolution, hidden=32, depth=2)


def _targets(model: StyleGAN2Model, n: int, seed: int) -> torch.Tensor:
    with torch.no_grad():
        return model.net.synthesis(model.mapping(model.sample_z(n, seed=seed)), noise_mode="const").clamp(-1, 1)


def _render(model: StyleGAN2Model):
    """Targets the generator can reach (its own samples), as uint8 like a renderer's output."""
    return lambda n, seed: ((_targets(model, n, seed).permute(0, 2, 3, 1) + 1) * 127.5).round().byte().numpy()


@pytest.fixture(scope="module")
def trained(model, tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("landscape")
    tcfg = LandscapeTrainConfig(steps=120, batch=4, inner_steps=5, sample=8, lr=3e-3, checkpoint_every=40)
    records = list(train_landscape(model, tcfg, run_dir, render=_render(model), lcfg=_lcfg(model)))
    return run_dir, records


def test_untrained_map_is_whitened_w_plus_around_the_mean(model):
    """Before training, descent through theta is plain w+ descent: theta(u) = w_avg + (w spread) * u."""
    lmap = build_landscape(model, _lcfg(model))
    u_dim = model.num_ws * model.w_dim
    u = torch.randn(3, u_dim)
    ws = lmap(u)
    assert ws.shape == (3, model.num_ws, model.w_dim)
    w_avg, w_std = model.w_stats(n=2000)
    expected = w_avg + (w_std / model.w_dim ** 0.5) * u.view(3, model.num_ws, model.w_dim)
    assert torch.allclose(ws, expected, atol=1e-5)
    with pytest.raises(GanlabError, match="u"):
        lmap(torch.zeros(3, u_dim + 1))


def test_training_records_progress_checkpoints_and_leaves_g_frozen(model, trained):
    run_dir, records = trained
    assert [r.step for r in records] == list(range(1, 121))
    assert [r.step for r in records if r.checkpoint] == [40, 80, 120]
    assert all(np.isfinite(list(r.losses.values())).all() for r in records)
    assert {"total", "distance", "pixel", "inner_first", "inner_last"} <= set(records[0].losses)
    assert all(not p.requires_grad and p.grad is None for p in model.net.parameters())
    assert (run_dir / "checkpoint.pt").is_file() and records[-1].eta_s == 0


def test_trained_map_inverts_better_than_untrained_in_few_steps(model, trained, tmp_path):
    """The point of landscape learning: the same 5-step descent lands closer after theta is trained."""
    target = _targets(model, 6, seed=12345)
    torch.manual_seed(0)
    untrained = build_landscape(model, _lcfg(model))
    trained_map = load_landscape(export_landscape(trained[0], tmp_path, model), model)
    *_, before = landscape_project(model, untrained, target, steps=5, distance=FALLBACK)
    *_, after = landscape_project(model, trained_map, target, steps=5, distance=FALLBACK)
    mean = lambda r: np.mean([m["distance"] for m in r.metrics])  # noqa: E731
    assert mean(after) < 0.9 * mean(before), (mean(before), mean(after))


def test_landscape_project_records_and_result(model, trained, tmp_path):
    lmap = load_landscape(export_landscape(trained[0], tmp_path, model), model)
    target = _targets(model, 2, seed=7)
    records = list(landscape_project(model, lmap, target, steps=8, distance=FALLBACK, preview_every=4))
    steps, result = records[:-1], records[-1]
    assert [r.step for r in steps] == list(range(1, 9)) and all(r.total == 8 for r in steps)
    assert [r.preview is not None for r in steps] == [True, False, False, False, True, False, False, False]
    assert steps[-1].losses["distance"] < steps[0].losses["distance"]
    assert isinstance(result, ProjectionResult) and result.steps_run == 8 and result.ws.shape == (2, model.num_ws, 16)
    with torch.no_grad():  # the result's image is what its latents synthesise with the model's constant noise
        img = model.net.synthesis(result.ws, noise_mode="const").clamp(-1, 1)
    assert np.abs(((img.permute(0, 2, 3, 1) + 1) * 127.5).round().numpy() - result.images).max() <= 1


def test_resume_and_round_trip_and_refusals(model, tmp_path):
    tcfg = LandscapeTrainConfig(steps=2, batch=2, inner_steps=2, sample=4)
    assert [r.step for r in train_landscape(model, tcfg, tmp_path, render=_render(model), lcfg=_lcfg(model))] == [1, 2]
    more = LandscapeTrainConfig(steps=3, batch=2, inner_steps=2, sample=4)
    assert [r.step for r in train_landscape(model, more, tmp_path, render=_render(model), lcfg=_lcfg(model))] == [3]

    folder = export_landscape(tmp_path, tmp_path / "out", model)
    assert {p.name for p in folder.iterdir()} == {"config.json", "model.safetensors"}
    lmap = load_landscape(folder, model)
    u = torch.randn(2, model.num_ws * model.w_dim)
    assert torch.equal(lmap(u), load_landscape(save_landscape(lmap, tmp_path / "again"), model)(u))
    with pytest.raises(GanlabError, match="trained for 'tiny'"):
        load_landscape(folder, StyleGAN2Model(Generator(TINY), name="other"))
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "config.json").write_text('{"model_type": "ganlab-encoder"}')
    with pytest.raises(GanlabError, match="not a ganlab landscape config"):
        load_landscape(tmp_path / "bad", model)


def test_methods_switch(model):
    target = _targets(model, 1, seed=3)
    cfg = ProjectionConfig(num_steps=3, w_avg_samples=200, preview_every=0)
    records = list(invert(model, target, "projector", "w", cfg, distance=FALLBACK))
    assert [r.step for r in records[:-1]] == [1, 2, 3] and records[-1].w is not None
    records = list(invert(model, target, "projector", "w-then-w+", cfg, distance=FALLBACK))
    assert records[-1].steps_run == 6
    with pytest.raises(GanlabError, match="no landscape map is shipped for 'tiny'"):
        invert(model, target, "landscape", "w+", cfg, distance=FALLBACK)
    with pytest.raises(GanlabError, match="method must be one of"):
        invert(model, target, "magic", "w+", cfg)
    fast = list(invert(model, target, "fast", "w", cfg, distance=FALLBACK))  # no encoder for 'tiny': projector
    assert all("no encoder" in r.note for r in fast if isinstance(r, ProjectionStep))
    assert result_space("projector", "w") == "w" and result_space("fast", "w") == "w+"
    assert result_space("landscape", "w-then-w+") == "w+"
