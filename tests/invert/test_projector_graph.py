"""The projector's CUDA graph path replays the eager step's maths: same results, same stops, same pauses.

On the CPU the `cuda_graph` flag changes nothing. On CUDA a graphed run must equal the same maths run
uncaptured (the fallback for a distance that reads a value back to the host, which no graph can hold)
and the eager loop (`cuda_graph=False`, the same device-side arithmetic). The CUDA tests run with
deterministic kernels: without them a GPU run does not repeat itself, graph or not.
"""

from __future__ import annotations

import threading
import warnings

import pytest
import torch

from ganlab.invert.losses import FALLBACK_NAME, Distance, fallback_distance
from ganlab.invert.projector import (ProjectionConfig, ProjectionResult, ProjectionState, ProjectionStep, project,
                                     uncaptured_distances)
from ganlab.models.loaders import load_checkpoint
from ganlab.settings import assets_dir
from tests.invert.conftest import run_to_result

FAST = dict(w_avg_samples=500, preview_every=0)
FALLBACK = Distance(FALLBACK_NAME, fallback_distance)
MSE = Distance("MSE", lambda a, b: (a - b).square().flatten(1).mean(1))

cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="CUDA graphs need a CUDA device")


@pytest.fixture(scope="module")
def cuda_model(deterministic_kernels):
    return load_checkpoint(assets_dir() / "models" / "toyfaces-64", name="toyfaces-64").to("cuda")


def _chunked(model, target, cfgs, distance):
    """A run paused after every step, call i using `cfgs(i)`; (the result, the calls, the steps reported)."""
    state, calls, steps = None, 0, []
    while True:
        records = list(project(model, target, cfgs(calls), distance=distance, resume=state, pause_after_s=0.0))
        calls += 1
        steps += [r.step for r in records if isinstance(r, ProjectionStep)]
        if isinstance(records[-1], ProjectionResult):
            return records[-1], calls, steps
        state = records[-1]
        assert isinstance(state, ProjectionState) and state.w_opt.device.type == "cpu"


def _uncapturable(dist: Distance) -> Distance:
    def fn(a, b):
        a.sum().item()  # a read back to the host: equal values, but no graph can hold it
        return dist.fn(a, b)
    return Distance(f"{dist.name}, read on the host", fn)


def _assert_tracks(result, reference, max_gap=1e-3, mean_gap=1e-4, psnr_db=0.01):
    gap = (result.ws - reference.ws).abs()
    assert gap.max() <= max_gap and gap.mean() <= mean_gap, (gap.max().item(), gap.mean().item())
    assert all(abs(a["psnr"] - b["psnr"]) <= psnr_db for a, b in zip(result.metrics, reference.metrics))
    assert result.steps_run == reference.steps_run


def test_the_cuda_graph_flag_changes_nothing_on_the_cpu(model, sample):
    runs = [run_to_result(project(model, sample, ProjectionConfig(num_steps=8, space="w+", cuda_graph=flag, **FAST),
                         distance=FALLBACK)) for flag in (True, False)]
    (steps_on, on), (steps_off, off) = runs
    assert torch.equal(on.ws, off.ws) and all(torch.equal(on.noise[k], off.noise[k]) for k in on.noise)
    assert on.history == off.history and on.metrics == off.metrics and on.steps_run == off.steps_run == 8
    assert [s.note for s in steps_on] == [s.note for s in steps_off]


def test_a_paused_state_resumed_twice_gives_the_same_result_twice(model, sample):
    cfg = ProjectionConfig(num_steps=4, space="w+", **FAST)
    state = list(project(model, sample, cfg, distance=FALLBACK, pause_after_s=0.0))[-1]
    assert isinstance(state, ProjectionState)
    first, second = (run_to_result(project(model, sample, cfg, distance=FALLBACK, resume=state))[1] for _ in range(2))
    assert torch.equal(first.ws, second.ws)


@cuda
def test_graph_replays_equal_the_same_maths_run_uncaptured(cuda_model, sample):
    cfg = ProjectionConfig(num_steps=20, space="w+", **FAST)
    _, graph = run_to_result(project(cuda_model, sample, cfg, distance=MSE))
    assert MSE.name not in uncaptured_distances()
    uncapturable = _uncapturable(MSE)
    with pytest.warns(RuntimeWarning, match="run eagerly: CUDA graph capture failed"):
        eager_steps, eager = run_to_result(project(cuda_model, sample, cfg, distance=uncapturable))
    assert "CUDA graph capture failed" in uncaptured_distances()[uncapturable.name]
    assert all(s.note == "" for s in eager_steps)  # the records speak of the distance only
    assert torch.allclose(graph.ws, eager.ws, rtol=0, atol=1e-4), (graph.ws - eager.ws).abs().max()
    assert all(torch.allclose(graph.noise[k], eager.noise[k], rtol=0, atol=1e-4) for k in graph.noise)
    assert graph.steps_run == eager.steps_run == 20
    assert [h["step"] for h in graph.history] == list(range(1, 21))


@cuda
def test_a_capture_that_failed_is_not_tried_again(cuda_model, sample):
    uncapturable = _uncapturable(Distance("MSE again", MSE.fn))
    cfg = ProjectionConfig(num_steps=2, **FAST)
    with pytest.warns(RuntimeWarning):
        run_to_result(project(cuda_model, sample, cfg, distance=uncapturable))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        _, result = run_to_result(project(cuda_model, sample, cfg, distance=uncapturable))
    assert not [w for w in caught if "capture failed" in str(w.message)]  # a second try would keep more memory
    assert result.steps_run == 2


@cuda
def test_a_graphed_run_tracks_the_eager_loop(cuda_model, sample):
    runs = [run_to_result(project(cuda_model, sample, ProjectionConfig(num_steps=20, space="w+", cuda_graph=flag, **FAST),
                         distance=MSE)) for flag in (True, False)]
    (_, graph), (_, eager) = runs
    assert MSE.name not in uncaptured_distances()
    _assert_tracks(graph, eager)
    assert graph.history[-1]["distance"] == pytest.approx(eager.history[-1]["distance"], rel=1e-3)


@cuda
def test_a_graphed_run_paused_and_resumed_in_chunks_equals_one_graphed_run(cuda_model, sample):
    cfg = ProjectionConfig(num_steps=6, space="w+", **FAST)
    _, whole = run_to_result(project(cuda_model, sample, cfg, distance=MSE))
    chunked, calls, steps = _chunked(cuda_model, sample, lambda i: cfg, MSE)
    assert calls == 6 and steps == [1, 2, 3, 4, 5, 6] and chunked.steps_run == 6
    assert torch.allclose(chunked.ws, whole.ws, rtol=0, atol=1e-4), (chunked.ws - whole.ws).abs().max()
    assert [h["step"] for h in chunked.history] == [h["step"] for h in whole.history]


@cuda
def test_states_pass_between_eager_and_graphed_calls(cuda_model, sample):
    cfg = ProjectionConfig(num_steps=6, space="w+", **FAST)
    _, whole = run_to_result(project(cuda_model, sample, ProjectionConfig(**{**cfg.__dict__, "cuda_graph": False}),
                            distance=MSE))
    mixed, calls, steps = _chunked(cuda_model, sample,
                                   lambda i: ProjectionConfig(**{**cfg.__dict__, "cuda_graph": i % 2 == 1}), MSE)
    assert calls == 6 and steps == [1, 2, 3, 4, 5, 6]
    _assert_tracks(mixed, whole)


@cuda
def test_cancel_stops_a_graphed_run_at_the_next_step(cuda_model, sample):
    results = []
    for flag in (True, False):
        cancel = threading.Event()
        records = []
        for rec in project(cuda_model, sample, ProjectionConfig(num_steps=50, cuda_graph=flag, **FAST),
                           distance=MSE, cancel=cancel):
            records.append(rec)
            if isinstance(rec, ProjectionStep) and rec.step == 3:
                cancel.set()
        results.append(records[-1])
    graph, eager = results
    assert graph.stopped == "cancelled" and graph.steps_run == 3 and graph.ws.shape[0] == 2
    _assert_tracks(graph, eager)


@cuda
def test_graphed_runs_stop_early_at_the_target_and_on_nan(cuda_model, sample):
    _, reached = run_to_result(project(cuda_model, sample, ProjectionConfig(num_steps=100, target_distance=10.0, **FAST),
                              distance=MSE))
    assert reached.stopped == "target reached" and reached.steps_run == 1
    nan = Distance("broken", lambda a, b: (a - b).flatten(1).mean(1) * float("nan"))
    _, broken = run_to_result(project(cuda_model, sample, ProjectionConfig(num_steps=20, **FAST), distance=nan))
    assert "NaN" in broken.stopped and broken.steps_run == 1 and nan.name not in uncaptured_distances()


@cuda
def test_bf16_autocast_steps_are_captured_too(cuda_model, sample):
    runs = [run_to_result(project(cuda_model, sample, ProjectionConfig(num_steps=20, space="w+", autocast=True,
                                                              cuda_graph=flag, **FAST), distance=MSE))
            for flag in (True, False)]
    (_, graph), (_, eager) = runs
    assert MSE.name not in uncaptured_distances()
    assert graph.steps_run == eager.steps_run == 20
    assert all(abs(a["psnr"] - b["psnr"]) < 0.1 for a, b in zip(graph.metrics, eager.metrics))
