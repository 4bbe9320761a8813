"""Which text model a generator uses, and loading them by name: the bundled toy CLIP from its folder, the
real CLIP refused with a clear message (and no network) when offline."""

from __future__ import annotations

import json
import socket

import pytest
import torch

from ganlab.errors import GanlabError, WeightsUnavailable
from ganlab.models.registry import MODELS_FILE, Registry, read_models
from ganlab.text import CLIP, TOYCLIP, TextImageModel, load_text_model, text_model_for


def test_the_demo_models_use_the_bundled_toy_clip_and_real_models_clip():
    registry = Registry()
    assert text_model_for(registry.get("toyfaces-64")) == TOYCLIP
    assert text_model_for(registry.get("toyobjects-64")) == TOYCLIP
    assert text_model_for(registry.get("stylegan2-ffhq-256")) == CLIP


def test_a_user_models_file_parses_as_before_and_may_name_a_text_model(tmp_path):
    base = {s.id: s for s in read_models(MODELS_FILE)}
    entries = [{"id": "mine", "kind": "stylegan2", "files": [{"sources": [{"url": "https://example.org/a.pkl"}]}]},
               {"id": "toyfaces-64", "title": "mirrored"},
               {"id": "tiny", "bundled": "toyfaces-64", "text_model": TOYCLIP}]
    path = tmp_path / "models.json"
    path.write_text(json.dumps({"format": "ganlab-models", "models": entries}))
    mine, toy, tiny = read_models(path, base)
    assert mine.text_model == CLIP
    assert (toy.title, toy.text_model) == ("mirrored", TOYCLIP)
    assert tiny.text_model == TOYCLIP
    path.write_text(json.dumps({"format": "ganlab-models", "models": [{"id": "bad", "bundled": "x", "text_model": 3}]}))
    with pytest.raises(GanlabError, match="text_model"):
        read_models(path)


def test_the_bundled_toy_clip_loads_once_per_device():
    model = load_text_model(TOYCLIP, "cpu")
    assert isinstance(model, TextImageModel) and model.device == torch.device("cpu")
    assert load_text_model(TOYCLIP, "cpu") is model
    with pytest.raises(GanlabError, match="unknown text model"):
        load_text_model("clip-huge", "cpu")


def test_offline_without_cached_weights_clip_is_refused_naming_what_and_how(tmp_path, monkeypatch):
    monkeypatch.setenv("GANLAB_CACHE", str(tmp_path))
    monkeypatch.setenv("GANLAB_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")

    def no_network(*args, **kwargs):
        raise AssertionError("the network was touched")

    monkeypatch.setattr(socket.socket, "connect", no_network)
    with pytest.raises(WeightsUnavailable) as err:
        load_text_model(CLIP, "cpu")
    message = str(err.value)
    assert "CLIP ViT-B/32 (OpenAI weights)" in message
    assert "GANLAB_OFFLINE" in message and str(tmp_path / "clip") in message
    assert "go online once" in message and "toyclip-64" in message
