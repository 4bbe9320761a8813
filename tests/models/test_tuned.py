"""Tuned weights stay with their latent: applied to a private copy, saved as safetensors, refused when forged."""

from __future__ import annotations

import json
import struct

import pytest
import torch
from safetensors.torch import save as save_safetensors

from ganlab.errors import GanlabError
from ganlab.models.loaders import load_checkpoint
from ganlab.models.tuned import FORMAT, TunedWeights, max_tuned_bytes, private_copy, tunable_names
from ganlab.settings import assets_dir


@pytest.fixture(scope="module")
def model():
    return load_checkpoint(assets_dir() / "models" / "toyfaces-64", name="toyfaces-64")


@pytest.fixture(scope="module")
def weights(model):
    gen = torch.Generator().manual_seed(0)
    params = dict(model.net.synthesis.named_parameters())
    return TunedWeights(model.name, {n: (0.01 * torch.randn(params[n].shape, generator=gen)).half()
                                     for n in tunable_names(model)})


def test_only_the_convolutions_are_tunable(model):
    names = tunable_names(model)
    assert "b64.conv1.weight" in names and "b4.torgb.bias" in names
    assert not any("affine" in n or "const" in n or "noise" in n for n in names)


def test_a_private_copy_shares_untouched_tensors_and_never_writes_the_pooled_ones(model, weights):
    tuned = weights.apply(model)
    base = dict(model.net.named_parameters())
    mine = dict(tuned.net.named_parameters())
    assert mine["synthesis.b4.conv1.affine.weight"] is base["synthesis.b4.conv1.affine.weight"]
    assert mine["synthesis.b64.conv1.weight"] is not base["synthesis.b64.conv1.weight"]
    expected = base["synthesis.b64.conv1.weight"] + weights.deltas["b64.conv1.weight"].float()
    assert torch.equal(mine["synthesis.b64.conv1.weight"], expected)
    assert private_copy(model, []).net.synthesis.b64.conv1.weight is base["synthesis.b64.conv1.weight"]


def test_bytes_round_trip_exactly(model, weights):
    back = TunedWeights.from_bytes(weights.to_bytes(), model)
    assert back.model_id == model.name and back.deltas.keys() == weights.deltas.keys()
    assert all(torch.equal(back.deltas[n], d) for n, d in weights.deltas.items())
    assert weights.nbytes == sum(d.numel() * 2 for d in weights.deltas.values())


def _blob(tensors, model_id="toyfaces-64", fmt=FORMAT):
    return save_safetensors(tensors, metadata={"format": fmt, "version": "1", "model_id": model_id})


@pytest.mark.parametrize("tamper, message", [
    (lambda w: _blob(w, model_id="ffhq-1024"), "made for model 'ffhq-1024'"),
    (lambda w: _blob(w, fmt="something"), "not a ganlab tuned-weights file"),
    (lambda w: _blob({**w, "b4.conv1.affine.weight": torch.zeros(64, 128).half()}), "not a tunable layer"),
    (lambda w: _blob({**w, "b64.conv1.weight": torch.zeros(3, 3).half()}), "shape"),
    (lambda w: _blob({**w, "b64.conv1.bias": torch.zeros(32)}), "not half precision"),
    (lambda w: _blob({**w, "b64.conv1.bias": torch.full((32,), float("nan")).half()}), "NaN"),
    (lambda w: b"\x00" * 4, "truncated"),
    (lambda w: struct.pack("<Q", 5) + b"{oops", "not valid JSON"),
    (lambda w: struct.pack("<Q", 10 ** 9) + b"{}", "truncated"),
])
def test_forged_or_foreign_weights_are_refused_with_a_clear_message(model, weights, tamper, message):
    with pytest.raises(GanlabError, match=message):
        TunedWeights.from_bytes(tamper(dict(weights.deltas)), model)


def test_a_blob_larger_than_the_model_could_need_is_refused_before_it_is_parsed(model):
    header = json.dumps({"__metadata__": {"format": FORMAT, "model_id": "toyfaces-64"}}).encode()
    data = struct.pack("<Q", len(header)) + header + b"\x00" * max_tuned_bytes(model)
    with pytest.raises(GanlabError, match="at most"):
        TunedWeights.from_bytes(data, model)


def test_weights_of_another_model_are_not_applied(model, weights):
    foreign = TunedWeights("other-model", weights.deltas)
    with pytest.raises(GanlabError, match="made for model 'other-model'"):
        foreign.apply(model)


def test_blending_is_linear_and_an_untuned_latent_counts_as_no_change(weights):
    half = TunedWeights.blend(weights, None, 0.5)
    name = "b64.conv1.weight"
    assert torch.allclose(half.deltas[name].float(), weights.deltas[name].float() / 2, atol=1e-3)
    assert TunedWeights.blend(None, None, 0.3) is None
    assert torch.equal(TunedWeights.blend(None, weights, 1.0).deltas[name], weights.deltas[name])
