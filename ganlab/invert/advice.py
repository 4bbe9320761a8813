"""What a long inversion will cost on this machine, said while there is still time to choose otherwise."""

from __future__ import annotations

from ganlab.invert.projector import ProjectionStep

LONG_RUN_S = 300.0  # about five minutes
MIN_STEPS = 3       # the estimate is measured: wait for a few steps


def long_run_warning(rec: ProjectionStep) -> str:
    """A warning with the faster alternatives when the rest of this run, measured from its first steps,
    would take longer than about five minutes here; '' otherwise."""
    if rec.step < MIN_STEPS or rec.eta_s <= LONG_RUN_S:
        return ""
    return (f"at the speed measured so far, the remaining {rec.total - rec.step} steps take about "
            f"{rec.eta_s / 60:.0f} minutes on this machine. Faster: fewer steps, an encoder method (fast, "
            "balanced) where the model has an encoder, a smaller model (e.g. 256 px instead of 1024), or a GPU")
