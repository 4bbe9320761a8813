"""The long-run warning: from measured steps only, past about five minutes, naming the alternatives."""

from __future__ import annotations

from ganlab.invert.advice import long_run_warning
from ganlab.invert.projector import ProjectionStep


def step(done: int, eta_s: float) -> ProjectionStep:
    return ProjectionStep(step=done, total=1000, losses={"distance": 0.5}, distance_name="x", eta_s=eta_s)


def test_a_long_run_is_announced_with_its_alternatives_once_measured():
    assert long_run_warning(step(1, 5000)) == ""        # one step is no measurement yet
    assert long_run_warning(step(10, 120)) == ""        # two minutes: no warning
    text = long_run_warning(step(10, 1800))
    assert "about 30 minutes" in text and "990 steps" in text
    assert all(word in text for word in ("fewer steps", "encoder", "256 px", "GPU"))
