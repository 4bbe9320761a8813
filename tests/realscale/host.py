"""A loopback download host for the stand-ins: ranges as a real host answers them, and faults on demand.
Used by the rehearsal's tests and by benchmarks/realscale.py."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

CHUNK = 1 << 20


@dataclass
class Files:
    """The stand-ins on disk: served name -> path."""

    root: Path
    served: dict[str, Path]


@dataclass
class Faults:
    """What the server does wrong, per served name: 'truncate' (announce and send only the first half, every
    time), 'corrupt' (same length, other bytes), 'html' (an error page with status 200); and `drops`: how
    many of the next answers stop half-way, closing the connection; `pace`: seconds to wait before each MiB
    (a slow line, so that a page has time to show the progress)."""

    by_name: dict[str, str] = field(default_factory=dict)
    drops: dict[str, int] = field(default_factory=dict)
    pace: dict[str, float] = field(default_factory=dict)
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
                time.sleep(self.server.faults.pace.get(name, 0.0))
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


def serve(files: Files, lifetime_s: float = 900.0) -> tuple[StandinServer, threading.Thread]:
    """The host on 127.0.0.1 (an ephemeral port), serving until `shutdown`, or `lifetime_s` at most."""
    srv = StandinServer(files)
    thread = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    deadline = threading.Timer(lifetime_s, srv.shutdown)
    deadline.daemon = True
    deadline.start()
    srv.deadline = deadline
    return srv, thread


def stop(srv: StandinServer, thread: threading.Thread) -> None:
    srv.deadline.cancel()
    srv.shutdown()
    srv.server_close()
    thread.join(timeout=5)
