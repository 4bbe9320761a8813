"""Per-image optimisation moves a latent towards the pixel edit when no learned walk exists."""

from __future__ import annotations

import pytest
import torch

from ganlab.augment.per_image import EditResult, edit_latents, optimise_edit
from ganlab.augment.transforms import edit, masked_l2
from ganlab.invert.projector import ProjectionStep
from ganlab.models.registry import Registry, load_model


@pytest.fixture(scope="module")
def model():
    torch.set_num_threads(1)
    return load_model(Registry(), "toyobjects-64")


def test_optimisation_reduces_the_edit_loss_and_reports_the_latent_difference(model):
    z, c = model.sample_z(2, seed=3, truncation=0.5), torch.eye(10)[[1, 2]]
    records = list(optimise_edit(model, z, c, "brightness", 0.3, steps=6, lr=0.1, truncation=0.5))
    steps, result = records[:-1], records[-1]
    assert isinstance(result, EditResult) and all(isinstance(s, ProjectionStep) for s in steps)
    assert [s.step for s in steps] == list(range(1, 7))
    with torch.no_grad():
        target = edit(model.synthesize(z, c=c, truncation=0.5), "brightness", 0.3)
        start = masked_l2(model.synthesize(z, c=c, truncation=0.5), target.img, target.mask)
    assert all(after < before for after, before in zip(result.losses, start.tolist()))
    assert torch.allclose(result.delta, result.z - z) and result.delta.abs().sum() > 0
    assert result.z.abs().max() <= 1.0 and result.images.shape == (2, 64, 64, 3)


def test_clamped_magnitudes_are_reported(model):
    z, c = model.sample_z(1, seed=4), torch.eye(10)[[0]]
    result = edit_latents(model, z, c, "slide_up", 0.9, steps=1)
    assert "clamped" in result.note and result.steps_run == 1
