"""The registry names every model, says whether it can be used, and fails with one clear message."""

from __future__ import annotations

import shutil

import pytest
import torch

from ganlab.errors import GanlabError, WeightsUnavailable
from ganlab.models.registry import Registry, load_model, status
from ganlab.settings import assets_dir


@pytest.fixture(autouse=True)
def isolated_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("GANLAB_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("GANLAB_OFFLINE", "1")


def test_builtin_models_cover_ffhq_biggan_and_the_bundled_demos():
    ids = {s.id for s in Registry().list()}
    assert {"stylegan2-ffhq-1024", "stylegan2-ffhq-256", "biggan-deep-128", "biggan-deep-256", "biggan-deep-512",
            "toyfaces-64", "toyobjects-64"} <= ids
    for spec in Registry().list():
        assert spec.licence and spec.resolution > 0 and spec.kind in ("stylegan2", "biggan")


def test_bundled_models_are_ready_and_load_offline():
    registry = Registry()
    for model_id, kind in [("toyfaces-64", "stylegan2"), ("toyobjects-64", "biggan")]:
        assert status(registry.get(model_id)).state == "ready"
        model = load_model(registry, model_id)
        assert model.kind == kind and model.resolution == 64


def test_real_models_are_reported_missing_offline_with_the_reason():
    st = status(Registry().get("stylegan2-ffhq-1024"))
    assert st.state == "missing" and "GANLAB_OFFLINE" in st.detail and "ffhq.pkl" in st.detail


def test_real_models_are_downloadable_when_online(monkeypatch):
    monkeypatch.delenv("GANLAB_OFFLINE")
    st = status(Registry().get("biggan-deep-128"))
    assert st.state == "downloadable" and "osanseviero/BigGAN-deep-128" in st.detail


@pytest.mark.parametrize("model_id", ["stylegan2-ffhq-1024", "biggan-deep-256"])
def test_loading_absent_weights_offline_says_what_was_tried_and_how_to_fix(model_id):
    with pytest.raises(WeightsUnavailable) as info:
        load_model(Registry(), model_id)
    message = str(info.value)
    assert model_id in message and "tried:" in message and "to fix:" in message and "offline" in message


def test_a_cached_official_snapshot_loads_without_network(golden_dir, tmp_path, monkeypatch):
    import json

    from ganlab.errors import BadCheckpoint
    from ganlab.models.download import url_cache_path

    spec = Registry().get("stylegan2-ffhq-1024")
    target = url_cache_path(spec.files[0][0][1])
    target.parent.mkdir(parents=True)
    shutil.copy(golden_dir / "stylegan2_ada" / "tiny_snapshot.pkl", target)
    assert status(spec).state == "ready"
    with pytest.raises(BadCheckpoint, match="should be 1024 px, but its file makes 32 px"):
        load_model(Registry(), "stylegan2-ffhq-1024")  # the tiny stand-in is not taken for the real model
    mine = tmp_path / "models.json"  # unless the user's models file says that is what it is
    mine.write_text(json.dumps({"format": "ganlab-models", "models": [{"id": "stylegan2-ffhq-1024", "resolution": 32}]}))
    monkeypatch.setenv("GANLAB_MODELS", str(mine))
    model = load_model(Registry(), "stylegan2-ffhq-1024")
    io = torch.load(golden_dir / "stylegan2_ada" / "io_vectors.pt", weights_only=True)
    with torch.no_grad():
        assert (model.net(io["z"]) - io["img_G_const_psi1"]).abs().max() < 1e-4


def test_user_checkpoint_paths_are_added_and_loaded(tmp_path):
    folder = tmp_path / "mine"
    shutil.copytree(assets_dir() / "models" / "toyfaces-64", folder)
    registry = Registry()
    spec = registry.add(str(folder))
    assert spec.id == "user-mine" and status(spec).state == "ready"
    assert load_model(registry, spec.id).resolution == 64


def test_adding_a_missing_path_or_unknown_id_is_refused_clearly(tmp_path):
    with pytest.raises(GanlabError, match="no file or folder"):
        Registry().add(str(tmp_path / "nope.pkl"))
    with pytest.raises(GanlabError, match="unknown model 'nope'"):
        Registry().get("nope")


def test_a_truncated_checkpoint_is_refused_not_crashed(golden_dir, tmp_path):
    data = (golden_dir / "stylegan2_ada" / "tiny_snapshot.pkl").read_bytes()
    (tmp_path / "cut.pkl").write_bytes(data[: len(data) // 2])
    registry = Registry()
    spec = registry.add(str(tmp_path / "cut.pkl"))
    with pytest.raises(GanlabError):
        load_model(registry, spec.id)
