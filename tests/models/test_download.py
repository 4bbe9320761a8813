"""Weight fetching against a real HTTP server on 127.0.0.1, a closed port and file:// URLs."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from huggingface_hub import constants as hub_constants

from ganlab.errors import WeightsUnavailable
from ganlab.models.download import (fetch_first, fetch_hub_file, fetch_url, hub_cache_dir,
                                    url_cache_path)

PAYLOAD = bytes(range(256)) * 64  # 16 KiB
SERVER_LIFETIME_S = 60.0


@pytest.fixture(autouse=True)
def isolated_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("GANLAB_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("GANLAB_OFFLINE", raising=False)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    return tmp_path / "cache"


class WeightServer(ThreadingHTTPServer):
    """Serves PAYLOAD at /weights.bin; records the Range header of every request."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), Handler)
        self.ranges: list[str | None] = []
        self.honour_range = True
        self.truncations_left = 0  # answers that announce the full length but stop half-way

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/weights.bin"


class Handler(BaseHTTPRequestHandler):
    server: WeightServer

    def do_GET(self) -> None:
        self.server.ranges.append(self.headers.get("Range"))
        if self.path != "/weights.bin":
            self.send_error(404)
            return
        start = 0
        wanted = self.headers.get("Range")
        if wanted and self.server.honour_range:
            start = int(wanted.removeprefix("bytes=").split("-")[0])
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(PAYLOAD) - 1}/{len(PAYLOAD)}")
        else:
            self.send_response(200)
        body = PAYLOAD[start:]
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.server.truncations_left > 0:
            self.server.truncations_left -= 1
            body = body[: len(body) // 2]
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def server() -> Iterator[WeightServer]:
    srv = WeightServer()
    thread = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    deadline = threading.Timer(SERVER_LIFETIME_S, srv.shutdown)  # a hung test cannot keep it alive
    deadline.daemon = True
    deadline.start()
    try:
        yield srv
    finally:
        deadline.cancel()
        srv.shutdown()
        srv.server_close()
        thread.join(timeout=5)


def closed_port_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/x.bin"


def test_url_cache_path_is_per_url_folder(isolated_cache: Path) -> None:
    a = url_cache_path("https://example.org/a/model.bin")
    b = url_cache_path("https://example.org/b/model.bin")
    assert a.name == b.name == "model.bin" and a.parent != b.parent
    assert a.parent.parent == isolated_cache / "url" and len(a.parent.name) == 16
    assert url_cache_path("https://example.org/x", "config.json").name == "config.json"


def test_file_url_and_plain_path_are_used_in_place(tmp_path: Path, isolated_cache: Path) -> None:
    weights = tmp_path / "w.bin"
    weights.write_bytes(b"abc")
    assert fetch_url(weights.as_uri(), "m") == weights
    assert fetch_url(str(weights), "m") == weights
    assert not (isolated_cache / "url").exists()


def test_missing_local_file_is_weights_unavailable(tmp_path: Path) -> None:
    with pytest.raises(WeightsUnavailable, match="no such file"):
        fetch_url((tmp_path / "absent.bin").as_uri(), "m")


def test_http_download_then_cache_without_network(server: WeightServer) -> None:
    path = fetch_url(server.url, "m")
    assert path.read_bytes() == PAYLOAD and path == url_cache_path(server.url)
    assert not path.with_name(path.name + ".part").exists()
    assert fetch_url(server.url, "m") == path
    assert len(server.ranges) == 1


def test_resumes_a_partial_download(server: WeightServer) -> None:
    part = url_cache_path(server.url).with_name("weights.bin.part")
    part.parent.mkdir(parents=True)
    part.write_bytes(PAYLOAD[:5000])
    assert fetch_url(server.url, "m").read_bytes() == PAYLOAD
    assert server.ranges == ["bytes=5000-"]


def test_server_ignoring_range_restarts_cleanly(server: WeightServer) -> None:
    server.honour_range = False
    part = url_cache_path(server.url).with_name("weights.bin.part")
    part.parent.mkdir(parents=True)
    part.write_bytes(b"stale bytes")
    assert fetch_url(server.url, "m").read_bytes() == PAYLOAD


def test_truncated_transfer_is_resumed_not_trusted(server: WeightServer) -> None:
    server.truncations_left = 1
    assert fetch_url(server.url, "m").read_bytes() == PAYLOAD
    assert server.ranges == [None, f"bytes={len(PAYLOAD) // 2}-"]


def test_always_truncated_transfer_leaves_no_final_file(server: WeightServer) -> None:
    server.truncations_left = 100
    with pytest.raises(WeightsUnavailable, match="incomplete"):
        fetch_url(server.url, "m")
    final = url_cache_path(server.url)
    assert not final.exists() and final.with_name("weights.bin.part").exists()
    server.truncations_left = 0
    assert fetch_url(server.url, "m").read_bytes() == PAYLOAD


def test_http_404_is_weights_unavailable(server: WeightServer) -> None:
    url = server.url.replace("weights.bin", "nothing.bin")
    with pytest.raises(WeightsUnavailable, match="HTTP 404") as info:
        fetch_url(url, "m")
    assert url in str(info.value)


def test_unreachable_url_lists_what_was_tried() -> None:
    url = closed_port_url()
    with pytest.raises(WeightsUnavailable) as info:
        fetch_first([("url", url)], "tiny")
    message = str(info.value)
    assert f"tried: {url}" in message and "cannot connect" in message
    assert str(url_cache_path(url)) in info.value.hint


def test_offline_touches_no_network(server: WeightServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GANLAB_OFFLINE", "1")
    with pytest.raises(WeightsUnavailable, match="offline") as info:
        fetch_first([("hub", "nobody/nothing", "w.bin"), ("url", server.url)], "tiny")
    assert server.ranges == []
    assert "hub nobody/nothing/w.bin" in str(info.value) and server.url in str(info.value)


def test_offline_uses_cached_copies(server: WeightServer, monkeypatch: pytest.MonkeyPatch) -> None:
    path = fetch_url(server.url, "m")
    monkeypatch.setenv("GANLAB_OFFLINE", "1")
    assert fetch_first([("hub", "nobody/nothing", "w.bin"), ("url", server.url)], "m") == path
    assert len(server.ranges) == 1


def place_in_hub_cache(repo_id: str, filename: str, data: bytes) -> Path:
    """A file laid out as huggingface_hub caches it (refs/main -> snapshots/<commit>/)."""
    commit = "0123456789abcdef0123456789abcdef01234567"
    repo_dir = hub_cache_dir() / f"models--{repo_id.replace('/', '--')}"
    (repo_dir / "refs").mkdir(parents=True)
    (repo_dir / "refs" / "main").write_text(commit)
    path = repo_dir / "snapshots" / commit / filename
    path.parent.mkdir(parents=True)
    path.write_bytes(data)
    return path


def test_hub_cache_is_used_first_and_offline(server: WeightServer, monkeypatch: pytest.MonkeyPatch) -> None:
    placed = place_in_hub_cache("someone/tiny", "w.bin", b"hub copy")
    assert fetch_first([("url", server.url), ("hub", "someone/tiny", "w.bin")], "m") == placed
    assert server.ranges == []
    monkeypatch.setenv("GANLAB_OFFLINE", "1")
    assert fetch_hub_file("someone/tiny", "w.bin", "m").read_bytes() == b"hub copy"


def test_unreachable_hub_fails_fast(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(hub_constants, "ENDPOINT", closed_port_url().removesuffix("/x.bin"))
    started = time.monotonic()
    with pytest.raises(WeightsUnavailable, match="cannot reach 127.0.0.1") as info:
        fetch_first([("hub", "someone/tiny", "w.bin")], "m")
    assert time.monotonic() - started < 5
    assert "tried: hub someone/tiny/w.bin" in str(info.value) and str(hub_cache_dir()) in info.value.hint


def test_falls_through_to_a_later_source(server: WeightServer) -> None:
    dead = closed_port_url()
    assert fetch_first([("url", dead), ("url", server.url)], "m").read_bytes() == PAYLOAD


def test_bad_source_tuple_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="bad weight source"):
        fetch_first([("ftp", "x")], "m")


def test_a_download_over_the_size_limit_is_refused_and_leaves_nothing(server: WeightServer,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GANLAB_MAX_DOWNLOAD_MB", "0")
    with pytest.raises(WeightsUnavailable, match="over this lab's 0 MB limit"):
        fetch_url(server.url, "m")
    folder = url_cache_path(server.url).parent
    assert not folder.exists() or not any(folder.iterdir())
    monkeypatch.delenv("GANLAB_MAX_DOWNLOAD_MB")
    assert fetch_url(server.url, "m").read_bytes() == PAYLOAD


class RedirectServer(WeightServer):
    """Answers /hop with a redirect to `target` (and serves /weights.bin as WeightServer does)."""

    def __init__(self, target: str) -> None:
        super().__init__()
        self.RequestHandlerClass = RedirectHandler
        self.target = target


class RedirectHandler(Handler):
    def do_GET(self) -> None:
        if self.path.split("?")[0] == "/hop":
            self.send_response(302)
            self.send_header("Location", self.server.target)
            self.end_headers()
            return
        super().do_GET()


def _serve(srv: WeightServer) -> threading.Thread:
    thread = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    return thread


def test_a_public_lab_follows_redirects_only_onto_its_allow_list(server: WeightServer,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    off_list = server.url.replace("127.0.0.1", "localhost")  # the same server, under a name not on the list
    hop = RedirectServer(off_list)
    _serve(hop)
    try:
        first = f"http://127.0.0.1:{hop.server_address[1]}/hop"
        monkeypatch.setenv("GANLAB_PUBLIC", "1")
        monkeypatch.setenv("GANLAB_ALLOWED_HOSTS", "127.0.0.1")
        with pytest.raises(WeightsUnavailable, match="redirected to http://localhost, which this lab does not"):
            fetch_url(first, "m")
        assert not any(p.is_file() for p in url_cache_path(first).parent.glob("*"))
        hop.target = server.url  # a redirect that stays on the list is followed
        assert fetch_url(first + "?again", "m").read_bytes() == PAYLOAD
        monkeypatch.delenv("GANLAB_PUBLIC")  # a private lab follows redirects anywhere
        hop.target = off_list
        assert fetch_url(first + "?private", "m").read_bytes() == PAYLOAD
    finally:
        hop.shutdown()
        hop.server_close()


def test_a_download_that_is_not_a_checkpoint_leaves_the_cache(server: WeightServer) -> None:
    from ganlab.errors import BadCheckpoint
    from ganlab.models.registry import Registry, load_model

    registry = Registry()
    spec = registry.add(server.url)
    with pytest.raises(BadCheckpoint):
        load_model(registry, spec.id)
    assert not url_cache_path(server.url).parent.exists()


def test_a_public_lab_registers_one_url_per_file(monkeypatch: pytest.MonkeyPatch) -> None:
    from ganlab.models.registry import Registry

    registry = Registry()
    base = "https://huggingface.co/someone/model/resolve/main/net.pkl"
    ids = [registry.add(base + tail, public=True).id for tail in ("?1", "?2", "#x", "")]
    sources = {registry.get(i).files[0][0][1] for i in ids}
    assert sources == {base}  # four entries, one file, one cache entry
