"""The full-size rehearsal's stage: stand-in checkpoints of the real sizes (written once per test run), a
loopback HTTP server that hands them out the way a download host does (ranges, and faults on demand),
and a models file that points the real model ids at it."""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from tests.realscale import standins

FFHQ_256 = "stylegan2-ffhq-256"
FFHQ_256_PT = "stylegan2-ffhq-256-rosinality"
BIGGAN_128 = "biggan-deep-128"
SERVER_LIFETIME_S = 900.0  # a hung run cannot keep the server alive past this
CHUNK = 1 << 20


@dataclass
class Files:
    """The stand-ins on disk: served name -> path, and G_ema's state of the FFHQ-256 snapshot."""

    root: Path
    served: dict[str, Path]


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


@dataclass
class Faults:
    """What the server does wrong, per served name: 'truncate' (announce and send only the first half, every
    time), 'corrupt' (same length, other bytes), 'html' (an error page with status 200); and `drops`: how
    many of the next answers stop half-way, closing the connection."""

    by_name: dict[str, str] = field(default_factory=dict)
    drops: dict[str, int] = field(default_factory=dict)
    requests: list[tuple[str, str | None]] = field(default_factory=list)  # (name, Range header) of each GET


class StandinServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, files: Files):
        super().__init__(("127.0.0.1", 0), _Handler)
        self.files = files
        self.faults = Faults()

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/{name}"


class _Handler(BaseHTTPRequestHandler):
    server: StandinServer

    def do_HEAD(self) -> None:
        self._answer(body=False)

    def do_GET(self) -> None:
        self._answer(body=True)

    def _answer(self, body: bool) -> None:
        name = self.path.lstrip("/")
        path = self.server.files.served.get(name)
        fault = self.server.faults.by_name.get(name, "")
        if body:
            self.server.faults.requests.append((name, self.headers.get("Range")))
        if path is None:
            self.send_error(404)
            return
        if fault == "html":
            page = b"<!doctype html><html><body>Sign in to download this file</body></html>"
            self._send(200, page, {"Content-Type": "text/html"}, body)
            return
        size = path.stat().st_size
        end = size // 2 if fault == "truncate" else size
        start, status, headers = 0, 200, {"Content-Type": "application/octet-stream", "Accept-Ranges": "bytes"}
        wanted = self.headers.get("Range")
        if wanted and fault != "truncate":
            start = int(wanted.removeprefix("bytes=").split("-")[0])
            if start >= size:
                self._send(416, b"", {"Content-Range": f"bytes */{size}"}, body)
                return
            status, headers["Content-Range"] = 206, f"bytes {start}-{size - 1}/{size}"
        self.send_response(status)
        for key, value in headers.items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(end - start))
        self.end_headers()
        if not body:
            return
        stop, drop = end, self.server.faults.drops.get(name, 0) > 0
        if drop:
            self.server.faults.drops[name] -= 1
            stop = start + (end - start) // 2
        with open(path, "rb") as f:
            f.seek(start)
            left = stop - start
            while left > 0:
                chunk = f.read(min(CHUNK, left))
                if fault == "corrupt":
                    chunk = bytes(b ^ 0xFF for b in chunk[:16]) + chunk[16:]
                self.wfile.write(chunk)
                left -= len(chunk)
        if drop:
            self.close_connection = True

    def _send(self, status: int, payload: bytes, headers: dict[str, str], body: bool) -> None:
        self.send_response(status)
        for key, value in headers.items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        if body:
            self.wfile.write(payload)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(scope="session")
def server(standin_files: Files) -> Iterator[StandinServer]:
    srv = StandinServer(standin_files)
    thread = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    deadline = threading.Timer(SERVER_LIFETIME_S, srv.shutdown)
    deadline.daemon = True
    deadline.start()
    try:
        yield srv
    finally:
        deadline.cancel()
        srv.shutdown()
        srv.server_close()
        thread.join(timeout=5)


@pytest.fixture(autouse=True)
def healthy(server: StandinServer) -> Iterator[None]:
    """Each test starts with a server that does nothing wrong."""
    for record in (server.faults.by_name, server.faults.drops, server.faults.requests):
        record.clear()
    yield
    server.faults.by_name.clear()
    server.faults.drops.clear()


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _file(server: StandinServer, name: str, pinned: bool) -> dict:
    path = server.files.served[name]
    entry = {"name": Path(name).name, "sources": [{"url": server.url(name)}]}
    if pinned:
        entry.update(size=path.stat().st_size, sha256=_sha256(path))
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


def _connect(monkeypatch: pytest.MonkeyPatch, models_file: Path, cache: Path) -> Path:
    monkeypatch.delenv("GANLAB_OFFLINE", raising=False)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setenv("GANLAB_MODELS", str(models_file))
    monkeypatch.setenv("GANLAB_CACHE", str(cache))
    return cache


@pytest.fixture
def online(models_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A machine with network (the loopback host) and an empty cache of its own; returns the cache."""
    return _connect(monkeypatch, models_file, tmp_path / "cache")


@pytest.fixture(scope="session")
def shared_cache(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("warm-cache")


@pytest.fixture
def warm(models_file: Path, shared_cache: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Online with one cache for the whole run: a model downloads once, for the first test that uses it
    (the tests of downloading itself use `online`, which starts empty)."""
    return _connect(monkeypatch, models_file, shared_cache)
