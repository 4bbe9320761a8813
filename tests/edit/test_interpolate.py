"""Interpolation hits every keyframe, eases, loops without a jump, and refuses mixed models."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ganlab.edit.interpolate import frame_strip, keyframe_positions, latent_path, render_interpolation, slerp
from ganlab.errors import GanlabError
from ganlab.models.registry import Registry, load_model
from ganlab.session import StoredLatent


@pytest.fixture(scope="module")
def faces():
    return load_model(Registry(), "toyfaces-64")


def _ws(model, seed):
    with torch.no_grad():
        return model.mapping(model.sample_z(1, seed=seed))


def test_positions_start_and_end_on_keyframes_and_ease():
    pos = keyframe_positions(3, 9, "linear")
    assert pos[0] == 0 and pos[-1] == 2 and np.allclose(pos[4], 1)
    eased = keyframe_positions(2, 5, "ease-in-out")
    assert eased[1] < 0.25 and np.allclose(eased[2], 0.5)


def test_pingpong_goes_there_and_back_without_repeating_the_start():
    pos = keyframe_positions(2, 8, "linear", pingpong=True)
    assert pos[0] == 0 and np.allclose(pos[4], 1) and pos[-1] > 0
    assert np.allclose(pos[1:4], pos[7:4:-1])


def test_w_plus_path_passes_through_each_stored_latent(faces):
    a = StoredLatent("a", "toyfaces-64", "w+", _ws(faces, 1))
    b = StoredLatent("b", "toyfaces-64", "w", _ws(faces, 2)[:, 0])
    path, c, space = latent_path(faces, [a, b], keyframe_positions(2, 5))
    assert c is None and space == "w+" and path.shape == (5, faces.num_ws, faces.w_dim)
    assert torch.allclose(path[0], a.tensor[0]) and torch.allclose(path[-1], b.tensor[0, None].expand(faces.num_ws, -1))


def test_latents_from_different_models_are_refused(faces):
    a = StoredLatent("a", "toyfaces-64", "w+", _ws(faces, 1))
    b = StoredLatent("b", "other", "w+", _ws(faces, 2))
    with pytest.raises(GanlabError, match="one model"):
        latent_path(faces, [a, b], keyframe_positions(2, 3))


def test_slerp_keeps_the_norm_of_equal_norm_latents():
    gen = torch.Generator().manual_seed(0)
    a, b = torch.randn(1, 128, generator=gen), torch.randn(1, 128, generator=gen)
    b = b / b.norm() * a.norm()
    mid = slerp(a, b, 0.5)
    assert torch.allclose(mid.norm(), a.norm(), rtol=1e-4)
    assert torch.allclose(slerp(a, b, 0.0), a, atol=1e-5) and torch.allclose(slerp(a, b, 1.0), b, atol=1e-5)


def test_biggan_interpolation_renders_frames_with_progress():
    model = load_model(Registry(), "toyobjects-64")
    items = [StoredLatent(f"o{i}", "toyobjects-64", "z", model.sample_z(1, seed=i), c=model.class_vector([i], 1))
             for i in range(2)]
    records = list(render_interpolation(model, items, frames=6, batch=4))
    assert [r.done for r in records] == [4, 6] and records[0].frames is None
    frames = records[-1].frames
    assert frames.shape == (6, 64, 64, 3) and frames.dtype == np.uint8
    assert frame_strip(frames, 3).shape == (64, 192, 3)


def test_frame_counts_outside_the_cap_are_refused():
    from ganlab.edit.interpolate import MAX_FRAMES
    assert len(keyframe_positions(2, MAX_FRAMES)) == MAX_FRAMES
    with pytest.raises(GanlabError, match="2 to"):
        keyframe_positions(2, MAX_FRAMES + 1)
    with pytest.raises(GanlabError, match="2 to"):
        keyframe_positions(2, 1)


def test_stylegan2_z_latents_are_mapped_and_blended_in_w_plus(faces):
    z = StoredLatent("z", "toyfaces-64", "z", faces.sample_z(1, seed=3))
    w = StoredLatent("w", "toyfaces-64", "w+", _ws(faces, 4))
    path, c, space = latent_path(faces, [z, w], keyframe_positions(2, 3))
    assert space == "w+" and c is None and path.shape == (3, faces.num_ws, faces.w_dim)
    assert torch.allclose(path[0], faces.to_ws(z.tensor, "z")[0].cpu(), atol=1e-5)
