"""The full-size rehearsal's stage: stand-in checkpoints of the real sizes (written once per test run), a
loopback HTTP server that hands them out the way a download host does (ranges, and faults on demand),
and a models file that points the real model ids at it."""

from __future__ import annotations

import json
import shutil
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from ganlab.models.download import file_sha256
from tests.realscale import standins
from tests.realscale.host import Files, StandinServer, serve, stop

FFHQ_256 = "stylegan2-ffhq-256"
FFHQ_256_PT = "stylegan2-ffhq-256-rosinality"
BIGGAN_128 = "biggan-deep-128"
SERVER_LIFETIME_S = 3600.0  # a hung run cannot keep the server alive past this


@pytest.fixture(scope="session")
def standin_files(tmp_path_factory, golden_dir) -> Files:
    """FFHQ-256 as an NVIDIA snapshot and as a rosinality .pt (the same generator), and a BigGAN-deep-128
    release folder: random weights, real layouts and sizes."""
    root = tmp_path_factory.mktemp("standins")
    state = standins.write_nvidia_snapshot(root / "ffhq-res256-mirror-paper256-noaug.pkl",
                                           standins.manifest(golden_dir, "ffhq256"))
    standins.write_rosinality_pt(root / "ffhq256-rosinality.pt", state, 256)
    standins.write_biggan_deep(root / "biggan-deep-128")
    served = {p.relative_to(root).as_posix(): p for p in root.rglob("*") if p.is_file()}
    return Files(root, served)


@pytest.fixture(scope="session")
def server(standin_files: Files) -> Iterator[StandinServer]:
    srv, thread = serve(standin_files, SERVER_LIFETIME_S)
    try:
        yield srv
    finally:
        stop(srv, thread)


@pytest.fixture(autouse=True)
def healthy(server: StandinServer) -> Iterator[None]:
    """Each test starts with a server that does nothing wrong."""
    for record in (server.faults.by_name, server.faults.drops, server.faults.pace, server.faults.requests):
        record.clear()
    yield
    for record in (server.faults.by_name, server.faults.drops, server.faults.pace):
        record.clear()


def _file(server: StandinServer, name: str, pinned: bool) -> dict:
    path = server.files.served[name]
    entry = {"name": Path(name).name, "sources": [{"url": server.url(name)}]}
    if pinned:
        entry.update(size=path.stat().st_size, sha256=file_sha256(path))
    return entry


@pytest.fixture(scope="session")
def models_file(server: StandinServer, tmp_path_factory) -> Path:
    """A user's models file: the real ids, their sources moved to the loopback server, sizes and sha256
    pinned, plus the same FFHQ-256 generator as a rosinality checkpoint."""
    pkl = "ffhq-res256-mirror-paper256-noaug.pkl"
    models = [
        {"id": FFHQ_256, "files": [_file(server, pkl, pinned=True)]},
        {"id": FFHQ_256_PT, "title": "StyleGAN2 FFHQ 256 (rosinality checkpoint)", "kind": "stylegan2",
         "resolution": 256, "licence": "as the FFHQ model", "domain": "faces",
         "files": [_file(server, "ffhq256-rosinality.pt", pinned=True)]},
        {"id": BIGGAN_128, "files": [_file(server, "biggan-deep-128/config.json", pinned=True),
                                     _file(server, "biggan-deep-128/pytorch_model.bin", pinned=True)]},
    ]
    path = tmp_path_factory.mktemp("registry") / "models.json"
    path.write_text(json.dumps({"format": "ganlab-models", "version": 1, "models": models}, indent=2))
    return path


def no_real_network(folder: Path) -> dict[str, str]:
    """Environment in which only the loopback host answers: every other http(s) request goes to a closed
    local port (e.g. torchvision fetching LPIPS's VGG weights), and torch's own cache is a temporary one."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{sock.getsockname()[1]}"
    return {"http_proxy": closed, "https_proxy": closed, "HTTP_PROXY": closed, "HTTPS_PROXY": closed,
            "no_proxy": "127.0.0.1,localhost", "NO_PROXY": "127.0.0.1,localhost", "TORCH_HOME": str(folder)}


def _connect(monkeypatch: pytest.MonkeyPatch, models_file: Path, cache: Path) -> Path:
    monkeypatch.delenv("GANLAB_OFFLINE", raising=False)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setenv("GANLAB_MODELS", str(models_file))
    monkeypatch.setenv("GANLAB_CACHE", str(cache))
    for name, value in no_real_network(cache.parent / "torch").items():
        monkeypatch.setenv(name, value)
    return cache


@pytest.fixture
def online(models_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A machine with network (the loopback host) and an empty cache of its own, removed afterwards (a
    few hundred MB each); yields the cache."""
    cache = _connect(monkeypatch, models_file, tmp_path / "cache")
    yield cache
    shutil.rmtree(cache, ignore_errors=True)


@pytest.fixture(scope="session")
def shared_cache(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("warm-cache")


@pytest.fixture
def warm(models_file: Path, shared_cache: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Online with one cache for the whole run: a model downloads once, for the first test that uses it
    (the tests of downloading itself use `online`, which starts empty)."""
    return _connect(monkeypatch, models_file, shared_cache)
