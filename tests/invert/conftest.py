"""What the projector tests share: the bundled face model (loaded once) and two of its own pictures as
targets. Other files here declare their own `model` fixture, which takes precedence in that file.
The model is read from its folder, not through the registry, so these tests also run where BigGAN's
package is missing (the lent GPU machine has no PyPI)."""

from __future__ import annotations

import os

import pytest
import torch

from ganlab.invert.projector import ProjectionResult
from ganlab.models.loaders import load_checkpoint
from ganlab.settings import assets_dir

# cuBLAS repeats its results only with a fixed workspace, read when its first handle is made: set before any test.
os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")


@pytest.fixture(scope="session")
def model():
    torch.set_num_threads(1)
    return load_checkpoint(assets_dir() / "models" / "toyfaces-64", name="toyfaces-64")


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


@pytest.fixture(scope="module")
def deterministic_kernels():
    """Deterministic cuDNN/cuBLAS kernels for the test: without them a GPU run does not even repeat itself
    (two eager runs of 50 steps drift ~1e-2 apart), so no comparison of runs means anything."""
    before = torch.are_deterministic_algorithms_enabled(), torch.backends.cudnn.benchmark
    torch.use_deterministic_algorithms(True, warn_only=True)
    torch.backends.cudnn.benchmark = False
    yield
    torch.use_deterministic_algorithms(before[0])
    torch.backends.cudnn.benchmark = before[1]
