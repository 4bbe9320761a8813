"""The model list as data: the shipped models.json, a user's file over it, and files checked by size and
sha256 as they arrive from a loopback server standing in for the download host."""

from __future__ import annotations

import functools
import hashlib
import json
import shutil
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from ganlab.errors import GanlabError, WeightsUnavailable
from ganlab.models.download import url_cache_path
from ganlab.models.registry import MODELS_FILE, Registry, load_model, read_models


@pytest.fixture(autouse=True)
def isolated(tmp_path, monkeypatch):
    monkeypatch.setenv("GANLAB_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("GANLAB_OFFLINE", raising=False)
    monkeypatch.delenv("GANLAB_MODELS", raising=False)


@pytest.fixture
def host(tmp_path, golden_dir):
    """A loopback file server over a folder holding the tiny NVIDIA snapshot; stopped after the test."""
    root = tmp_path / "served"
    root.mkdir()
    shutil.copyfile(golden_dir / "stylegan2_ada" / "tiny_snapshot.pkl", root / "net.pkl")

    class Quiet(SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=str(root)))
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield root, f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def _user_file(tmp_path: Path, entry: dict) -> Path:
    path = tmp_path / "my-models.json"
    path.write_text(json.dumps({"format": "ganlab-models", "version": 1, "models": [entry]}))
    return path


def test_the_shipped_list_is_data_with_every_model_and_its_sources():
    specs = {s.id: s for s in read_models(MODELS_FILE)}
    assert {"toyfaces-64", "toyobjects-64", "stylegan2-ffhq-1024", "biggan-deep-512"} <= set(specs)
    assert specs["biggan-deep-128"].files[0][0] == ("hub", "osanseviero/BigGAN-deep-128", "config.json")
    assert specs["stylegan2-ffhq-256"].files[0][0][1].startswith("https://nvlabs-fi-cdn.nvidia.com/")
    assert Registry().get("stylegan2-ffhq-256") == specs["stylegan2-ffhq-256"]


def test_a_user_file_points_a_real_id_at_a_mirror_and_its_sha256_is_checked(tmp_path, monkeypatch, host):
    root, url = host
    digest = hashlib.sha256((root / "net.pkl").read_bytes()).hexdigest()
    entry = {"id": "stylegan2-ffhq-256", "resolution": 32,
             "files": [{"name": "net.pkl", "sources": [{"url": f"{url}/net.pkl"}], "sha256": digest}]}
    monkeypatch.setenv("GANLAB_MODELS", str(_user_file(tmp_path, entry)))
    registry = Registry()
    spec = registry.get("stylegan2-ffhq-256")
    assert spec.licence.startswith("NVIDIA") and spec.digests == (digest,)  # the rest of the entry is kept
    model = load_model(registry, "stylegan2-ffhq-256")
    assert model.resolution == 32
    assert (url_cache_path(f"{url}/net.pkl").with_name("net.pkl.sha256")).read_text() == digest  # hashed once

    entry["files"][0]["sha256"] = "0" * 64
    entry["files"][0]["sources"] = [{"url": f"{url}/net.pkl?second"}]
    monkeypatch.setenv("GANLAB_MODELS", str(_user_file(tmp_path, entry)))
    with pytest.raises(WeightsUnavailable, match="sha256") as err:
        load_model(Registry(), "stylegan2-ffhq-256")
    assert "not kept" in str(err.value) and not url_cache_path(f"{url}/net.pkl?second").exists()


def test_a_file_of_the_wrong_size_or_resolution_is_refused(tmp_path, monkeypatch, host):
    from ganlab.errors import BadCheckpoint

    root, url = host
    size = (root / "net.pkl").stat().st_size
    entry = {"id": "mirror-net", "kind": "stylegan2", "resolution": 32,
             "files": [{"name": "net.pkl", "sources": [{"url": f"{url}/net.pkl"}], "size": size + 1}]}
    monkeypatch.setenv("GANLAB_MODELS", str(_user_file(tmp_path, entry)))
    with pytest.raises(WeightsUnavailable, match=f"is {size} bytes"):
        load_model(Registry(), "mirror-net")
    entry["files"][0]["size"], entry["resolution"] = size, 256
    monkeypatch.setenv("GANLAB_MODELS", str(_user_file(tmp_path, entry)))
    with pytest.raises(BadCheckpoint, match="should be 256 px"):
        load_model(Registry(), "mirror-net")


def test_a_bad_models_file_is_named_in_one_line(tmp_path, monkeypatch):
    bad = tmp_path / "broken.json"
    bad.write_text("{ not json")
    monkeypatch.setenv("GANLAB_MODELS", str(bad))
    with pytest.raises(GanlabError, match="broken.json: cannot read the models file"):
        Registry()
    monkeypatch.setenv("GANLAB_MODELS", str(_user_file(tmp_path, {"id": "new-model", "kind": "stylegan2"})))
    with pytest.raises(GanlabError, match="new-model.*needs 'files'"):
        Registry()


def test_the_cli_takes_a_models_file(tmp_path, monkeypatch, capsys, host):
    from ganlab.cli import main

    _, url = host
    path = _user_file(tmp_path, {"id": "my-mirror", "title": "My mirror", "kind": "stylegan2", "resolution": 32,
                                 "files": [{"name": "net.pkl", "sources": [{"url": f"{url}/net.pkl"}]}]})
    assert main(["--models", str(path), "models"]) == 0
    assert "my-mirror" in capsys.readouterr().out
    assert main(["--models", str(path), "sample", "--model", "my-mirror", "--seeds", "1", "--out",
                 str(tmp_path / "out"), "--device", "cpu"]) == 0
    assert (tmp_path / "out" / "seed0001.png").is_file()
