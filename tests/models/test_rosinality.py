"""rosinality checkpoints map one-to-one onto official names and reproduce the official images."""

from __future__ import annotations

import argparse
import json

import pytest
import torch

from ganlab.errors import BadCheckpoint
from ganlab.models.loaders import load_checkpoint
from ganlab.models.rosinality import convert_state_dict, infer_config, name_map
from ganlab.models.stylegan2 import Generator

TRANSFORM_BACK = {"copy": lambda t, shape: t, "squeeze0": lambda t, shape: t.unsqueeze(0),
                  "scalar": lambda t, shape: t.reshape([1]), "flatten": lambda t, shape: t.reshape(shape),
                  "plane": lambda t, shape: t.reshape(shape)}


def _manifest(golden_dir, name):
    return json.loads((golden_dir / "rosinality_stylegan2" / name).read_text())


@pytest.mark.parametrize("name", ["manifest_rosinality256.json", "manifest_rosinality256_cm1.json"])
def test_name_map_equals_the_checked_golden_mapping(golden_dir, name):
    m = _manifest(golden_dir, name)
    ours = {k: v[0] for k, v in name_map(256, 8).items()}
    gold = {r["rosinality"]: r["nvlabs"] for r in m["name_map_to_nvlabs"]
            if r["nvlabs"] and not r["rosinality"].startswith("(checkpoint")}
    assert ours == gold


@pytest.mark.parametrize("name,params", [("manifest_rosinality256.json", 30_034_338),
                                         ("manifest_rosinality256_cm1.json", 24_767_458)])
def test_manifest_shaped_checkpoint_converts_to_a_strictly_loading_generator(golden_dir, name, params):
    m = _manifest(golden_dir, name)
    gen = torch.Generator().manual_seed(0)
    state = {k: torch.randn(shape, generator=gen) if shape else torch.randn([], generator=gen)
             for k, shape, _dtype, _kind in m["state_dict"]}
    cfg, converted = convert_state_dict(state)
    assert cfg.img_resolution == 256 and cfg.mapping_layers == 8 and cfg.w_dim == 512
    with torch.device("meta"):
        net = Generator(cfg)
    assert [k for k in net.state_dict()] == sorted(converted, key=list(net.state_dict()).index)
    assert all(net.state_dict()[k].shape == converted[k].shape for k in converted)
    assert sum(v.numel() for k, v in converted.items() if k in dict(net.named_parameters())) == params
    assert torch.equal(converted["synthesis.b8.conv0.weight"], state["convs.0.conv.weight"][0])
    assert torch.equal(converted["synthesis.b16.conv1.noise_const"], state["noises.noise_4"][0, 0])


def _rosinality_from_official(state: dict[str, torch.Tensor], size: int, n_mlp: int) -> dict[str, torch.Tensor]:
    """Write an official state dict in rosinality's layout (the inverse of the checked name map)."""
    out = {}
    for ros, (nv, how) in name_map(size, n_mlp).items():
        t = state[nv]
        shape = {"flatten": [1, t.numel(), 1, 1], "plane": [1, 1, *t.shape]}.get(how)
        out[ros] = TRANSFORM_BACK[how](t, shape).clone()
    kernel = torch.outer(torch.tensor([1.0, 3, 3, 1]), torch.tensor([1.0, 3, 3, 1])) / 64 * 4
    for j in range(len([k for k in out if k.startswith("to_rgbs.") and k.endswith("conv.weight")])):
        out[f"convs.{2 * j}.conv.blur.kernel"] = kernel
        out[f"to_rgbs.{j}.upsample.kernel"] = kernel
    return out


def test_rosinality_pt_with_latent_avg_reproduces_golden_images(golden_dir, tmp_path):
    base = golden_dir / "stylegan2_ada"
    state = torch.load(base / "tiny_state_dict.pt", weights_only=True)
    io = torch.load(base / "io_vectors.pt", weights_only=True)
    ckpt = {"g_ema": _rosinality_from_official(state, 32, 2), "latent_avg": state["mapping.w_avg"],
            "args": argparse.Namespace(size=32)}
    torch.save(ckpt, tmp_path / "ckpt.pt")
    model = load_checkpoint(tmp_path / "ckpt.pt")
    assert [model.cfg.channels(r) for r in (4, 8, 16, 32)] == [32, 32, 16, 8]
    with torch.no_grad():
        img = model.net(io["z"], truncation_psi=0.7)
    assert (img - io["img_G_const_psi0.7"]).abs().max() < 1e-4


def test_rosinality_without_latent_avg_estimates_the_mean_w(golden_dir, tmp_path):
    state = torch.load(golden_dir / "stylegan2_ada" / "tiny_state_dict.pt", weights_only=True)
    torch.save({"g_ema": _rosinality_from_official(state, 32, 2)}, tmp_path / "train.pt")
    model = load_checkpoint(tmp_path / "train.pt")
    with torch.no_grad():
        sampled = model.mapping(model.sample_z(2000, seed=1))[:, 0].mean(0)
    assert (model.net.mapping.w_avg - sampled).abs().max() < 0.1
    assert model.net.mapping.w_avg.abs().sum() > 0


def test_checkpoint_without_g_ema_is_refused_clearly(tmp_path):
    torch.save({"model": {}}, tmp_path / "other.pt")
    with pytest.raises(BadCheckpoint, match="no 'g_ema'"):
        load_checkpoint(tmp_path / "other.pt")


def test_infer_config_refuses_a_non_stylegan_state_dict():
    with pytest.raises(BadCheckpoint, match="not a rosinality"):
        infer_config({"fc.weight": torch.zeros(2, 2)})
