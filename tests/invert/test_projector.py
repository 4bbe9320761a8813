"""The projector recovers latents, streams progress, stops when asked, and never modifies the model."""

from __future__ import annotations

import math
import threading

import numpy as np
import pytest
import torch

from ganlab.data.toyfaces import render_faces
from ganlab.errors import GanlabError, ShapeError
from ganlab.imaging import from_uint8
from ganlab.invert.losses import FALLBACK_NAME, Distance, fallback_distance
from ganlab.invert.metrics import psnr, ssim
from ganlab.invert.projector import (TUNED, ProjectionConfig, ProjectionResult, ProjectionStep, learning_rate,
                                     noise_regularizer, project, project_w_then_w_plus, settings_config)
from ganlab.models.registry import Registry, load_model
from tests.invert.conftest import run_to_result

FAST = dict(w_avg_samples=500, preview_every=0)
FALLBACK = Distance(FALLBACK_NAME, fallback_distance)


def test_w_plus_projection_of_a_generator_sample_improves_psnr_and_streams_records(model, sample):
    start = psnr(model.synthesize(model.mean_latent("w"), space="w").expand(2, -1, -1, -1), sample)
    cfg = ProjectionConfig(num_steps=60, space="w+", preview_every=20, w_avg_samples=500)
    steps, result = run_to_result(project(model, sample, cfg, distance=FALLBACK))
    assert [s.step for s in steps] == list(range(1, 61))
    assert all(s.distance_name == FALLBACK_NAME and s.total == 60 for s in steps)
    assert [s.step for s in steps if s.preview is not None] == [20, 40, 60]
    assert steps[-1].preview.shape == (2, 64, 64, 3) and steps[-1].eta_s == 0
    assert steps[-1].losses["distance"] < steps[0].losses["distance"]
    assert result.ws.shape == (2, model.num_ws, model.w_dim) and result.w is None
    assert all(m["psnr"] > s + 3 for m, s in zip(result.metrics, start.tolist()))
    assert set(result.noise) == set(model.net.synthesis.noise_shapes())


def test_w_space_result_is_one_w_broadcast_to_every_layer(model, sample):
    _, result = run_to_result(project(model, sample[:1], ProjectionConfig(num_steps=5, space="w", **FAST), distance=FALLBACK))
    assert result.w.shape == (1, model.w_dim)
    assert torch.equal(result.ws, result.w.unsqueeze(1).expand(-1, model.num_ws, -1))


def test_projection_never_modifies_the_shared_model(model, sample):
    before = {k: v.clone() for k, v in model.net.state_dict().items()}
    run_to_result(project(model, sample, ProjectionConfig(num_steps=3, space="w+", **FAST), distance=FALLBACK))
    assert all(torch.equal(before[k], v) for k, v in model.net.state_dict().items())


def test_cancel_event_stops_at_the_next_step_and_keeps_the_latents(model, sample):
    cancel = threading.Event()
    records = []
    for rec in project(model, sample, ProjectionConfig(num_steps=50, **FAST), distance=FALLBACK, cancel=cancel):
        records.append(rec)
        if isinstance(rec, ProjectionStep) and rec.step == 3:
            cancel.set()
    result = records[-1]
    assert isinstance(result, ProjectionResult)
    assert result.stopped == "cancelled" and result.steps_run == 3 and result.ws.shape[0] == 2


def test_early_stop_when_every_target_reaches_the_distance(model, sample):
    steps, result = run_to_result(project(model, sample, ProjectionConfig(num_steps=100, target_distance=10.0, **FAST),
                                 distance=FALLBACK))
    assert result.stopped == "target reached" and len(steps) == 1


def test_nan_loss_stops_with_a_message_instead_of_hanging(model, sample):
    nan = Distance("broken", lambda a, b: (a - b).flatten(1).mean(1) * float("nan"))
    _, result = run_to_result(project(model, sample, ProjectionConfig(num_steps=20, **FAST), distance=nan))
    assert "NaN" in result.stopped and result.steps_run == 1


def test_w_then_w_plus_numbers_steps_across_both_phases(model, sample):
    cfg = ProjectionConfig(num_steps=4, **FAST)
    steps, result = run_to_result(project_w_then_w_plus(model, sample[:1], cfg, w_plus_steps=3, distance=FALLBACK))
    assert [s.step for s in steps] == list(range(1, 8)) and all(s.total == 7 for s in steps)
    assert result.steps_run == 7 and len(result.history) == 7
    assert not torch.allclose(result.ws[:, 0], result.ws[:, -1])


def test_pixel_loss_term_is_reported_when_enabled(model, sample):
    steps, _ = run_to_result(project(model, sample, ProjectionConfig(num_steps=2, pixel_loss="l1", pixel_weight=1.0, **FAST),
                            distance=FALLBACK))
    assert "pixel_l1" in steps[0].losses


def test_settings_by_name_with_overrides_that_none_leaves_alone():
    assert settings_config("official") == ProjectionConfig()
    tuned = settings_config("tuned", num_steps=7, pixel_loss=None, pixel_weight=3.0)
    assert tuned.num_steps == 7 and tuned.pixel_loss == TUNED["pixel_loss"] and tuned.pixel_weight == 3.0
    assert tuned.initial_learning_rate == TUNED["initial_learning_rate"] != ProjectionConfig().initial_learning_rate
    with pytest.raises(GanlabError, match="settings must be one of official, tuned"):
        settings_config("fastest")


def test_tuned_settings_fit_a_rendered_face_closer_than_the_official_ones(model):
    faces = from_uint8(render_faces(2, seed=10 ** 9 + 7, size=64)[0])
    psnrs = {}
    for name in ("official", "tuned"):
        cfg = settings_config(name, num_steps=60, space="w+", **FAST)
        _, result = run_to_result(project(model, faces, cfg, distance=FALLBACK))
        psnrs[name] = np.mean([m["psnr"] for m in result.metrics])
    assert psnrs["tuned"] > psnrs["official"] + 0.5, psnrs


def test_bf16_autocast_projection_tracks_the_fp32run_to_result(model, sample):
    runs = [run_to_result(project(model, sample, ProjectionConfig(num_steps=30, space="w+", autocast=ac, **FAST),
                         distance=FALLBACK))[1] for ac in (False, True)]
    assert runs[1].ws.dtype == torch.float32 and not torch.equal(runs[0].ws, runs[1].ws)
    for fp32, bf16 in zip(runs[0].metrics, runs[1].metrics):
        assert abs(fp32["psnr"] - bf16["psnr"]) < 1.0


def test_lpips_wiring_reports_lpips_metrics(model, sample):
    import lpips

    net = lpips.LPIPS(net="alex", pnet_rand=True, verbose=False).eval().requires_grad_(False)
    dist = Distance("LPIPS (VGG)", lambda a, b: net(a, b).flatten())
    _, result = run_to_result(project(model, sample, ProjectionConfig(num_steps=2, **FAST), distance=dist))
    assert all("lpips" in m and m["lpips"] >= 0 for m in result.metrics)


def test_bad_configs_and_targets_are_refused(model, sample):
    with pytest.raises(ShapeError, match="target"):
        next(project(model, sample[:, :, :32, :32], ProjectionConfig(**FAST)))
    with pytest.raises(GanlabError, match="space"):
        next(project(model, sample, ProjectionConfig(space="z", **FAST)))
    biggan = load_model(Registry(), "toyobjects-64")
    with pytest.raises(GanlabError, match="StyleGAN2"):
        next(project(biggan, sample, ProjectionConfig(**FAST)))


def test_learning_rate_schedule_matches_the_official_ramps():
    cfg = ProjectionConfig()
    assert learning_rate(cfg, 0.0) == 0
    assert math.isclose(learning_rate(cfg, 0.025), 0.05)
    assert math.isclose(learning_rate(cfg, 0.5), 0.1)
    assert math.isclose(learning_rate(cfg, 0.875), 0.05, rel_tol=1e-9)


def test_noise_regularizer_penalises_smooth_maps_not_white_noise():
    gen = torch.Generator().manual_seed(0)
    white = {"a": torch.randn(1, 1, 32, 32, generator=gen)}
    smooth = {"a": torch.nn.functional.interpolate(torch.randn(1, 1, 4, 4, generator=gen), size=32, mode="bilinear")}
    assert noise_regularizer(smooth).item() > 100 * noise_regularizer(white).item()


def test_psnr_and_ssim_known_values():
    a = torch.zeros(1, 3, 16, 16)
    assert math.isclose(psnr(a, a).item(), 100.0, rel_tol=1e-5)  # MSE floored at 1e-10
    assert math.isclose(psnr(a, a + 0.2).item(), 20.0, rel_tol=1e-5)
    assert math.isclose(ssim(a, a).item(), 1.0, rel_tol=1e-5)
    noisy = (a + 0.5 * torch.randn(1, 3, 16, 16, generator=torch.Generator().manual_seed(0))).clamp(-1, 1)
    assert ssim(a, noisy).item() < 0.5
    assert np.isfinite(ssim(a, noisy).item())


def test_a_run_paused_and_resumed_in_chunks_equals_one_uninterruptedrun_to_result(model, sample):
    """The ZeroGPU path: every call pauses after one step and the next resumes from its state."""
    from ganlab.invert.projector import ProjectionState

    cfg = ProjectionConfig(num_steps=6, space="w+", **FAST)
    _, whole = run_to_result(project(model, sample, cfg, distance=FALLBACK))
    state, calls, steps = None, 0, []
    while True:
        calls += 1
        records = list(project(model, sample, cfg, distance=FALLBACK, resume=state, pause_after_s=0.0))
        steps += [r.step for r in records if isinstance(r, ProjectionStep)]
        if isinstance(records[-1], ProjectionResult):
            chunked = records[-1]
            break
        state = records[-1]
        assert isinstance(state, ProjectionState) and state.w_opt.device.type == "cpu"
    assert calls == 6 and steps == [1, 2, 3, 4, 5, 6]
    assert torch.equal(chunked.ws, whole.ws)
    assert all(torch.equal(chunked.noise[k], whole.noise[k]) for k in whole.noise)
    assert [h["step"] for h in chunked.history] == [h["step"] for h in whole.history]
    assert chunked.steps_run == 6


def test_noise_regularizer_of_stacked_maps_equals_the_per_map_official_sum():
    gen = torch.Generator().manual_seed(1)
    noise = {"b8.conv0": torch.randn(2, 1, 8, 8, generator=gen), "b8.conv1": torch.randn(2, 1, 8, 8, generator=gen),
             "b16.conv0": torch.randn(2, 1, 16, 16, generator=gen), "b4.conv1": torch.randn(2, 1, 4, 4, generator=gen)}
    want = torch.zeros(2)
    for v in noise.values():  # the official projector's loop, one map at a time
        x = v
        while True:
            want += (x * torch.roll(x, shifts=1, dims=3)).mean(dim=[1, 2, 3]) ** 2
            want += (x * torch.roll(x, shifts=1, dims=2)).mean(dim=[1, 2, 3]) ** 2
            if x.shape[2] <= 8:
                break
            x = torch.nn.functional.avg_pool2d(x, kernel_size=2)
    assert torch.allclose(noise_regularizer(noise), want, rtol=1e-5, atol=1e-9)
