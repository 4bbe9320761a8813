"""Applying directions: exactly alpha * sigma along d, only on the chosen layers, presets that tile num_ws."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ganlab.edit.apply import LAYER_PRESETS, EditRenderer, edit_ws, layer_indices, render_edit
from ganlab.edit.directions import Direction
from ganlab.errors import GanlabError, ShapeError
from ganlab.models.registry import Registry, load_model


def unit(seed: int, dim: int = 8) -> np.ndarray:
    v = np.random.default_rng(seed).normal(size=dim)
    return v / np.linalg.norm(v)


@pytest.fixture(scope="module")
def model():
    torch.set_num_threads(1)
    return load_model(Registry(), "toyfaces-64")


def test_edit_moves_exactly_alpha_sigma_along_d_on_the_chosen_layers_only():
    ws = torch.randn(3, 10, 8)
    d = Direction("d", unit(1), "m", sigma=1.5)
    out = edit_ws(ws, d, 2.0, layers=(2, 5))
    delta = out - ws
    expected = torch.from_numpy(d.vector) * 3.0
    assert torch.allclose(delta[:, 2:5], expected.expand(3, 3, 8), atol=1e-6)
    assert torch.equal(delta[:, :2], torch.zeros(3, 2, 8)) and torch.equal(delta[:, 5:], torch.zeros(3, 5, 8))
    assert not torch.equal(out, ws) and out.data_ptr() != ws.data_ptr()


def test_several_directions_add_up_and_default_to_their_own_layers():
    ws = torch.zeros(1, 10, 8)
    a = Direction("a", unit(1), "m", sigma=2.0)
    b = Direction("b", unit(2), "m", sigma=0.5, layers=(7, 8, 9))
    out = edit_ws(ws, [a, b], [1.0, -4.0])
    va, vb = torch.from_numpy(a.vector), torch.from_numpy(b.vector)
    assert torch.allclose(out[0, :7], (2.0 * va).expand(7, 8), atol=1e-6)
    assert torch.allclose(out[0, 7:], (2.0 * va - 2.0 * vb).expand(3, 8), atol=1e-6)
    assert torch.allclose(edit_ws(ws, [a, b], [1.0, -4.0], layers="fine")[0, :6], torch.zeros(6, 8))


def test_presets_tile_the_layers_in_order():
    for num_ws in (10, 14, 18):
        parts = [layer_indices(name, num_ws) for name in ("coarse", "middle", "fine")]
        assert sum(parts, []) == list(range(num_ws)) and all(parts)
        assert layer_indices("all", num_ws) == list(range(num_ws))
        assert len(parts[0]) == round(0.3 * num_ws)
    assert [layer_indices(p, 18) for p in ("coarse", "middle", "fine")] == \
           [list(range(0, 5)), list(range(5, 11)), list(range(11, 18))]
    assert set(LAYER_PRESETS) == {"coarse", "middle", "fine", "all"}
    assert layer_indices([4, 1, 4], 10) == [1, 4] and layer_indices(range(3, 6), 10) == [3, 4, 5]


def test_bad_layers_and_shapes_are_refused_with_the_tensor_named():
    d = Direction("d", unit(1), "m")
    with pytest.raises(GanlabError, match="preset"):
        layer_indices("eyes", 10)
    with pytest.raises(GanlabError, match="0..9"):
        layer_indices((8, 12), 10)
    with pytest.raises(ShapeError, match="ws has shape"):
        edit_ws(torch.zeros(10, 8), d, 1.0)
    with pytest.raises(ShapeError, match="w_dim 4"):
        edit_ws(torch.zeros(1, 10, 4), d, 1.0)
    with pytest.raises(GanlabError, match="alphas"):
        edit_ws(torch.zeros(1, 10, 8), [d, d], [1.0])


def test_render_edit_renders_the_edit_and_refuses_other_models_directions(model):
    ws = model.mapping(model.sample_z(2, seed=0))
    d = Direction("d", unit(1, model.w_dim), model.name, sigma=1.0)
    with torch.no_grad():
        expected = model.synthesize(edit_ws(ws, d, 3.0, "coarse"), space="w+")
    img = render_edit(model, ws, d, 3.0, "coarse")
    assert img.shape == (2, 3, 64, 64) and not img.requires_grad and torch.equal(img, expected)
    assert torch.equal(render_edit(model, ws), model.synthesize(ws, space="w+"))
    with pytest.raises(GanlabError, match="another model"):
        render_edit(model, ws, Direction("x", unit(1, model.w_dim), "stylegan2-ffhq-1024"), 1.0)
    with pytest.raises(ShapeError, match="ws has shape"):
        render_edit(model, ws[:, :5], d, 1.0)


def test_edit_renderer_renders_the_original_once_and_each_edit_as_render_edit_does(model):
    ws = model.mapping(model.sample_z(1, seed=3))
    d = Direction("d", unit(4, model.w_dim), model.name, sigma=2.0)
    renderer = EditRenderer(model, ws)
    assert torch.equal(renderer.original, render_edit(model, ws))
    for layers in ("fine", "coarse", "fine"):
        new_ws, img = renderer.render(d, 1.5, layers)
        assert torch.equal(new_ws, edit_ws(ws, d, 1.5, layers))
        assert torch.allclose(img, render_edit(model, ws, d, 1.5, layers), atol=1e-6)
    unchanged_ws, unchanged = renderer.render(d, 0.0)
    assert unchanged is renderer.original and torch.equal(unchanged_ws, ws)
    assert renderer.matches(model, ws.clone()) and not renderer.matches(model, ws + 1)
    with pytest.raises(GanlabError, match="another model"):
        renderer.render(Direction("x", unit(5, model.w_dim), "other-model"), 1.0)


def test_a_huge_layer_range_is_refused_before_any_list_is_built():
    import tracemalloc
    tracemalloc.start()
    try:
        with pytest.raises(GanlabError, match="within 0..9"):
            layer_indices((0, 10 ** 7), 10)  # a list of it would take hundreds of megabytes
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 1 << 20


@pytest.mark.parametrize("num_ws", [12, 14, 16, 18])
def test_layer_presets_split_every_real_depth_into_three_contiguous_parts(num_ws):
    """FFHQ 256/512/1024 have 14/16/18 ws (12: a 128-px StyleGAN2): each preset gets a real share."""
    parts = [layer_indices(preset, num_ws) for preset in ("coarse", "middle", "fine")]
    assert sum(parts, []) == list(range(num_ws))
    assert all(len(part) >= 3 for part in parts)
