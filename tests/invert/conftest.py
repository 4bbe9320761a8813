"""What the projector tests share: the bundled face model (loaded once) and two of its own pictures as
targets. Other files here declare their own `model` fixture, which takes precedence in that file."""

from __future__ import annotations

import pytest
import torch

from ganlab.invert.projector import ProjectionResult
from ganlab.models.registry import Registry, load_model


@pytest.fixture(scope="session")
def model():
    torch.set_num_threads(1)
    return load_model(Registry(), "toyfaces-64")


@pytest.fixture(scope="session")
def sample(model):
    """`img` [2, 3, 64, 64] of two seeded samples: targets the model can reach exactly."""
    with torch.no_grad():
        return model.net.synthesis(model.mapping(model.sample_z(2, seed=11))).clamp(-1, 1)


def run_to_result(records):
    """A projector run's records split into (its step records, its result)."""
    steps, result = [], None
    for rec in records:
        if isinstance(rec, ProjectionResult):
            result = rec
        else:
            steps.append(rec)
    return steps, result
