"""Our StyleGAN2 reproduces the official generator and carries its exact parameter layout."""

from __future__ import annotations

import json

import pytest
import torch

from ganlab.errors import BadCheckpoint, ShapeError
from ganlab.models.stylegan2 import Generator, StyleGAN2Config
from ganlab.models.stylegan2_model import StyleGAN2Model, build_stylegan2, load_stylegan2_folder, save_stylegan2

TOL = 1e-4


def _golden(golden_dir, cond: str):
    base = golden_dir / "stylegan2_ada"
    cfg = json.loads((base / f"tiny{cond}_config.json").read_text())
    state = torch.load(base / f"tiny{cond}_state_dict.pt", weights_only=True)
    io = torch.load(base / f"io_vectors{cond}.pt", weights_only=True)
    model = build_stylegan2(StyleGAN2Config.from_official_kwargs(cfg["G_init_kwargs_as_stored_in_pickle"]), state, "tiny")
    c = io["c"] if io["c"].shape[1] else None
    return model, state, io, c


@pytest.mark.parametrize("cond", ["", "_cond"])
def test_state_dict_names_shapes_and_order_equal_official(golden_dir, cond):
    model, state, _, _ = _golden(golden_dir, cond)
    ours = model.net.state_dict()
    assert list(ours) == list(state)
    assert all(ours[k].shape == state[k].shape for k in state)


@pytest.mark.parametrize("cond", ["", "_cond"])
def test_mapping_reproduces_official_ws_with_truncation_and_cutoff(golden_dir, cond):
    model, _, io, c = _golden(golden_dir, cond)
    with torch.no_grad():
        assert (model.mapping(io["z"], c) - io["ws_psi1"]).abs().max() < 1e-6
        assert (model.mapping(io["z"], c, truncation=0.7) - io["ws_psi0.7"]).abs().max() < 1e-6
        cut = model.mapping(io["z"], c, truncation=0.7, truncation_cutoff=4)
        assert (cut - io["ws_psi0.7_cutoff4"]).abs().max() < 1e-6


@pytest.mark.parametrize("cond", ["", "_cond"])
@pytest.mark.parametrize("mode,psi", [("const", "1"), ("const", "0.7"), ("none", "1"), ("none", "0.7")])
def test_synthesis_reproduces_official_images(golden_dir, cond, mode, psi):
    model, _, io, _ = _golden(golden_dir, cond)
    with torch.no_grad():
        img = model.net.synthesis(io[f"ws_psi{psi}"], noise_mode=mode)
    assert (img - io[f"img_synth_{mode}_psi{psi}"]).abs().max() < TOL


@pytest.mark.parametrize("cond", ["", "_cond"])
def test_full_generator_fused_and_unfused_match_official(golden_dir, cond):
    model, _, io, c = _golden(golden_dir, cond)
    with torch.no_grad():
        assert (model.net(io["z"], c) - io["img_G_const_psi1"]).abs().max() < TOL
        assert (model.net(io["z"], c, truncation_psi=0.7) - io["img_G_const_psi0.7"]).abs().max() < TOL
        assert (model.net(io["z"], c, truncation_psi=0.7, noise_mode="none") - io["img_G_none_psi0.7"]).abs().max() < TOL
        unfused = model.net.synthesis(io["ws_psi1"], fused=False)
    assert (unfused - io["img_synth_const_psi1_nonfused"]).abs().max() < TOL


def test_uint8_conversion_matches_generate_py(golden_dir):
    model, _, io, _ = _golden(golden_dir, "")
    with torch.no_grad():
        img = model.net(io["z"])
    u8 = (img.permute(0, 2, 3, 1) * 127.5 + 128).clamp(0, 255).to(torch.uint8)
    assert (u8.int() - io["img_G_const_psi1_uint8_nhwc"].int()).abs().max() <= 1


def test_per_block_intermediates_match_official(golden_dir):
    model, _, io, _ = _golden(golden_dir, "")
    outs = {}
    for res in model.net.synthesis.block_resolutions:
        block = getattr(model.net.synthesis, f"b{res}")
        block.register_forward_hook(lambda m, a, out, r=res: outs.__setitem__(r, out))
    with torch.no_grad():
        model.net.synthesis(io["ws_psi1"])
    for res, (x, img) in outs.items():
        assert (x - io[f"intermediate/synthesis.b{res}.out0"]).abs().max() < TOL
        assert (img - io[f"intermediate/synthesis.b{res}.out1"]).abs().max() < TOL


@pytest.mark.parametrize("res", [256, 512, 1024])
def test_full_size_ffhq_configs_match_official_manifests(golden_dir, res):
    manifest = json.loads((golden_dir / "stylegan2_ada" / f"manifest_ffhq{res}.json").read_text())
    cfg = StyleGAN2Config.from_official_kwargs(manifest["G_init_kwargs_as_stored_in_pickle"])
    with torch.device("meta"):
        net = Generator(cfg)
    ours = [[k, list(v.shape)] for k, v in net.state_dict().items()]
    assert ours == [[k, shape] for k, shape, _dtype, _kind in manifest["G_state_dict"]]
    assert net.num_ws == manifest["num_ws"] == cfg.num_ws
    assert sum(p.numel() for p in net.parameters()) == manifest["G_num_parameters"]


def test_legacy_config_f_kwargs_build_the_same_layout(golden_dir):
    manifest = json.loads((golden_dir / "stylegan2_ada" / "manifest_ffhq1024.json").read_text())
    cfg = StyleGAN2Config.from_official_kwargs(manifest["legacy_py_convert_tf_generator_kwargs_for_config_f"])
    with torch.device("meta"):
        net = Generator(cfg)
    assert [k for k in net.state_dict()] == [row[0] for row in manifest["G_state_dict"]]


def test_ws_slices_follow_the_official_layer_index(golden_dir):
    cfg = json.loads((golden_dir / "stylegan2_ada" / "tiny_config.json").read_text())
    model, _, _, _ = _golden(golden_dir, "")
    slices = model.net.synthesis.ws_slices()
    for name, info in cfg["derived"]["blocks"].items():
        assert [slices[name].start, slices[name].stop] == info["ws_slice"]


def test_wrong_latent_shapes_are_refused_with_the_tensor_named(golden_dir):
    model, _, _, _ = _golden(golden_dir, "")
    with pytest.raises(ShapeError, match="ws has shape"):
        model.synthesize(torch.zeros(1, 7, 32), space="w+")
    with pytest.raises(ShapeError, match="w has shape"):
        model.synthesize(torch.zeros(1, 31), space="w")
    with pytest.raises(ShapeError, match="z has shape"):
        model.synthesize(torch.zeros(2, 3), space="z")


def test_w_and_broadcast_w_plus_give_the_same_image(golden_dir):
    model, _, io, _ = _golden(golden_dir, "")
    w = io["ws_psi1"][:, 0]
    with torch.no_grad():
        a = model.synthesize(w, space="w")
        b = model.synthesize(w.unsqueeze(1).repeat(1, model.num_ws, 1), space="w+")
    assert torch.equal(a, b)
    assert a.min() >= -1 and a.max() <= 1


def test_own_format_round_trip_keeps_every_tensor(golden_dir, tmp_path):
    model, state, io, _ = _golden(golden_dir, "")
    save_stylegan2(model, tmp_path / "m")
    again = load_stylegan2_folder(tmp_path / "m")
    assert all(torch.equal(again.net.state_dict()[k], v) for k, v in state.items())
    assert again.cfg == model.cfg


def test_weights_that_do_not_fit_the_config_are_refused(golden_dir):
    _, state, _, _ = _golden(golden_dir, "")
    cfg = StyleGAN2Config(z_dim=32, w_dim=32, img_resolution=64, mapping_layers=2, channel_base=256, channel_max=32)
    with pytest.raises(BadCheckpoint, match="missing"):
        build_stylegan2(cfg, state, "x")


def test_sampling_is_deterministic_for_a_seed(golden_dir):
    model, _, _, _ = _golden(golden_dir, "")
    assert torch.equal(model.sample_z(3, seed=5), model.sample_z(3, seed=5))
    assert not torch.equal(model.sample_z(3, seed=5), model.sample_z(3, seed=6))
    assert isinstance(model, StyleGAN2Model)


def test_w_stats_are_kept_until_the_mapping_changes():
    from ganlab.models.registry import Registry, load_model

    model = load_model(Registry(), "toyfaces-64")
    mean, std = model.w_stats(n=500)
    mean.add_(1.0)  # callers get a copy: changing it changes nothing kept
    again, same_std = model.w_stats(n=500)
    assert torch.equal(again, model._w_stats(500, 123, 1000)[0]) and same_std == std
    with torch.no_grad():
        model.net.mapping.fc0.weight.mul_(2.0)  # as a training step would change it
    moved, _ = model.w_stats(n=500)
    assert torch.equal(moved, model._w_stats(500, 123, 1000)[0]) and not torch.equal(moved, again)
