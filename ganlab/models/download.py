"""Fetching weight files into ganlab's cache, from the Hugging Face hub or a plain URL.

Every failure (offline, refused connection, 404, a cut-off transfer) ends as `WeightsUnavailable`,
whose message lists what was tried and where the file can be put by hand: users see that text,
never a traceback. A cached file is used without touching the network, and only a complete
download ever gets the final name, so an interrupted one is resumed rather than trusted.
Progress goes to whoever listens (`reporting`): the CLI draws a bar, the app writes it on the page.
"""

from __future__ import annotations

import hashlib
import inspect
import http.client
import os
import shutil
import socket
import urllib.error
import urllib.request
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Callable, Iterator
from urllib.parse import unquote, urlsplit
from urllib.request import url2pathname

import huggingface_hub
from huggingface_hub import constants as hub_constants
from huggingface_hub import errors as hub_errors
from tqdm import tqdm

from ganlab import __version__, settings
from ganlab.errors import WeightsUnavailable

TIMEOUT_S = 10.0
CHUNK_BYTES = 1 << 20
MAX_ATTEMPTS = 3

# A source is ("hub", repo_id, filename), ("url", url) or ("url", url, filename_in_cache).
Source = tuple[str, ...]

OFFLINE_REASON = "offline (GANLAB_OFFLINE or HF_HUB_OFFLINE is set) and no cached copy exists"

# huggingface_hub raises OSError subclasses for most failures; transport errors of its HTTP client
# and a missing remote file are not OSErrors in current versions.
_HUB_ERRORS = (OSError, ValueError, hub_errors.EntryNotFoundError, getattr(hub_errors, "HTTPError", OSError))
_URL_ERRORS = (OSError, http.client.HTTPException, ValueError)


@dataclass(frozen=True)
class DownloadProgress:
    """One file's transfer so far: `done` bytes of `total` (None when the server does not say)."""

    file: str
    done: int
    total: int | None


Listener = Callable[[DownloadProgress], None]
_listener: ContextVar[Listener | None] = ContextVar("ganlab_download_listener", default=None)


@contextmanager
def reporting(listener: Listener) -> Iterator[None]:
    """Downloads started inside this block (in this thread or task) report their progress to `listener`."""
    token = _listener.set(listener)
    try:
        yield
    finally:
        _listener.reset(token)


def _report(file: str, done: int, total: int | None) -> None:
    listener = _listener.get()
    if listener is not None:
        listener(DownloadProgress(file, done, total))


class _Nowhere:
    """A text stream that keeps nothing (the library draws no bars of its own)."""

    def write(self, text: str) -> int:
        return len(text)

    def flush(self) -> None:
        pass


class _HubBar(tqdm):
    """What huggingface_hub draws its bar with: nothing on screen, each update passed to the listener."""

    def __init__(self, *args, **kwargs):
        kwargs.pop("name", None)  # some huggingface_hub versions pass their own logger name, which tqdm refuses
        kwargs.update(disable=False, file=_Nowhere())
        super().__init__(*args, **kwargs)
        self._name = str(kwargs.get("desc") or "download")

    def update(self, n=1):
        shown = super().update(n)
        _report(self._name, int(self.n), int(self.total) if self.total else None)
        return shown


# Older huggingface_hub versions draw their own bar and take no `tqdm_class`: their downloads report nothing.
_HUB_BAR = ({"tqdm_class": _HubBar} if "tqdm_class" in inspect.signature(huggingface_hub.hf_hub_download).parameters
            else {})


class IncompleteDownload(OSError):
    """The server closed the connection before sending the whole file."""


class HubUnreachable(OSError):
    """No connection to the hub's host could be opened."""


class RedirectRefused(OSError):
    """A public app's download was redirected off its allow-list (or from https to http)."""


class _StayOnTheList(urllib.request.HTTPRedirectHandler):
    """Follows redirects, except that in a public app each must lead to an allow-listed host and never
    from https down to http: an allowed URL must not become a way to reach any other server."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        new, old = urlsplit(newurl), urlsplit(req.full_url)
        if settings.public() and (not settings.host_allowed(new.hostname)
                                  or (old.scheme == "https" and new.scheme != "https")):
            raise RedirectRefused(f"redirected to {new.scheme}://{new.hostname or '?'}, which this lab does not "
                                  "fetch from")
        return super().redirect_request(req, fp, code, msg, headers, newurl)


def hub_cache_dir() -> Path:
    """Where hub downloads are cached (huggingface_hub's own layout)."""
    return settings.cache_dir() / "hub"


def url_cache_path(url: str, filename: str | None = None) -> Path:
    """`cache/url/<sha256(url)[:16]>/<name>`: one folder per URL, so equal basenames never collide."""
    key = hashlib.sha256(url.encode("utf-8")).hexdigest()[:16]
    name = filename or PurePosixPath(unquote(urlsplit(url).path)).name or "download"
    return settings.cache_dir() / "url" / key / name


def fetch_hub_file(repo_id: str, filename: str, model: str) -> Path:
    """`filename` from hub repo `repo_id`: the cached copy if any, else downloaded unless offline."""
    cached = cached_path(("hub", repo_id, filename))
    if cached is not None:
        return cached
    offline = settings.offline()
    endpoint = hub_constants.ENDPOINT
    try:
        if not offline:
            _probe(endpoint)
        path = huggingface_hub.hf_hub_download(
            repo_id, filename, cache_dir=hub_cache_dir(), local_files_only=offline, etag_timeout=TIMEOUT_S,
            endpoint=endpoint, **_HUB_BAR)
    except _HUB_ERRORS as err:
        why = "offline" if offline else _describe_hub_error(err)
        reason = OFFLINE_REASON if offline else why
        raise WeightsUnavailable(model, [f"hub {repo_id}/{filename} ({why})"], reason, _hub_hint(repo_id)) from err
    return Path(path)


def fetch_url(url: str, model: str, filename: str | None = None) -> Path:
    """The file behind `url`: a local path or file:// URL as is, http(s) through the cache."""
    local = _local_path(url)
    if local is not None:
        if local.is_file():
            return local
        why = f"no such file: {local}"
        raise WeightsUnavailable(model, [f"{url} ({why})"], why, f"put the file at {local}")
    if urlsplit(url).scheme not in ("http", "https"):
        why = "unsupported URL scheme (use http, https, file or a local path)"
        raise WeightsUnavailable(model, [f"{url} ({why})"], why, "give an http(s) URL or a local path")
    target = url_cache_path(url, filename)
    if target.is_file():
        return target
    if settings.offline():
        raise WeightsUnavailable(model, [f"{url} (offline)"], OFFLINE_REASON, _url_hint(url, target))
    try:
        _download(url, target)
    except _URL_ERRORS as err:
        why = _describe_url_error(err)
        raise WeightsUnavailable(model, [f"{url} ({why})"], why, _url_hint(url, target)) from err
    return target


def verified(path: Path, model: str, size: int | None = None, sha256: str | None = None) -> Path:
    """`path`, once it is no web page and its size and sha256 are what the registry says (the digest is
    remembered beside the file, so a large checkpoint is hashed once). A file that differs is deleted when
    it was a download."""
    actual_size = path.stat().st_size
    why, fix = "", ("the file was damaged or replaced at its source; it was not kept: run again to download it "
                    "afresh, or check the registry entry's sha256")
    if looks_like_a_web_page(path):
        why = f"the server sent a web page instead of {path.name} (the link may need a login, or it moved)"
        fix = "open the link in a browser to see what it asks for, and give a direct link to the file; nothing was kept"
    elif size is not None and actual_size != size:
        why = f"{path.name} is {actual_size} bytes, but the model's file has {size}"
    elif sha256:
        mark = path.with_name(path.name + ".sha256")
        digest = mark.read_text().strip() if mark.is_file() else file_sha256(path)
        if digest.lower() != sha256.lower():
            why = f"{path.name} has sha256 {digest[:12]}..., not the model's {sha256[:12]}..."
        elif not mark.is_file():
            mark.write_text(digest)
    if not why:
        return path
    discard(path)
    raise WeightsUnavailable(model, [f"{path.name} ({why})"], why, fix)


def looks_like_a_web_page(path: Path) -> bool:
    """Whether a downloaded file is HTML (a login or error page served with status 200), which no
    checkpoint format starts like."""
    with open(path, "rb") as f:
        head = f.read(512).lstrip().lower()
    return head.startswith((b"<!doctype html", b"<html", b"<head", b"<body"))


def file_sha256(path: Path) -> str:
    """The hex sha256 of a file, read in chunks (a checkpoint can be larger than memory allows twice)."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(CHUNK_BYTES):
            digest.update(chunk)
    return digest.hexdigest()


def discard(path: Path) -> None:
    """Delete a file downloaded by URL (its whole cache entry); anything outside the URL cache is left."""
    root = (settings.cache_dir() / "url").resolve()
    entry = Path(path).resolve().parent
    if entry.parent == root:
        shutil.rmtree(entry, ignore_errors=True)


def fetch_first(sources: list[Source], model: str, hint: str | None = None, size: int | None = None,
                sha256: str | None = None) -> Path:
    """The first source that yields the file: cached copies first (no network), then downloads in order.

    `hint` replaces the default advice (download the first URL to its exact cache path). `size` (bytes)
    and `sha256`, when known, are checked; a downloaded file that fails them is deleted, not kept.
    """
    for source in sources:
        cached = cached_path(source)
        if cached is not None:
            return verified(cached, model, size, sha256)
    tried: list[str] = []
    failures: list[WeightsUnavailable] = []
    for source in sources:
        try:
            return verified(_fetch(source, model), model, size, sha256)
        except WeightsUnavailable as err:
            tried += err.tried
            failures.append(err)
    if len(failures) == 1:  # one source: its own reason and advice say most
        raise failures[0]
    reason = OFFLINE_REASON if settings.offline() else "no source could provide the file"
    raise WeightsUnavailable(model, tried, reason, hint or default_hint(sources))


def default_hint(sources: list[Source]) -> str:
    """Where to put the file by hand: the first URL's exact cache path, else the hub cache."""
    for kind, *args in sources:
        if kind == "url" and urlsplit(args[0]).scheme in ("http", "https"):
            return _url_hint(args[0], url_cache_path(*args))
    for kind, *args in sources:
        if kind == "hub":
            return _hub_hint(args[0])
    return "give the path of a local copy"


def _fetch(source: Source, model: str) -> Path:
    kind, *args = source
    if kind == "hub" and len(args) == 2:
        return fetch_hub_file(args[0], args[1], model)
    if kind == "url" and len(args) in (1, 2):
        return fetch_url(args[0], model, *args[1:])
    raise ValueError(f"bad weight source {source!r}: expected ('hub', repo_id, filename) or ('url', url[, filename])")


def cached_path(source: Source) -> Path | None:
    """The source's file if it is already on disk; never uses the network."""
    kind, *args = source
    if kind == "hub" and len(args) == 2:
        found = huggingface_hub.try_to_load_from_cache(args[0], args[1], cache_dir=hub_cache_dir())
        return Path(found) if isinstance(found, str) else None
    if kind == "url" and len(args) in (1, 2):
        local = _local_path(args[0])
        path = local if local is not None else url_cache_path(*args)
        return path if path.is_file() else None
    raise ValueError(f"bad weight source {source!r}: expected ('hub', repo_id, filename) or ('url', url[, filename])")


def _probe(endpoint: str) -> None:
    """Fail within TIMEOUT_S when the hub's host is unreachable.

    huggingface_hub retries a failed lookup of an uncached file for about 25 s; a plain TCP
    connection tells an offline machine much sooner. Behind a proxy only the client can tell.
    """
    parts = urlsplit(endpoint)
    if urllib.request.getproxies().get(parts.scheme) or not parts.hostname:
        return
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        socket.create_connection((parts.hostname, port), timeout=TIMEOUT_S).close()
    except OSError as err:
        raise HubUnreachable(f"cannot reach {parts.hostname}:{port}: {err}") from err


def _local_path(url: str) -> Path | None:
    """The path a file:// URL or a plain path names; None for network URLs."""
    parts = urlsplit(url)
    if parts.scheme == "file":
        return Path(url2pathname(parts.path))
    if parts.scheme == "" or len(parts.scheme) == 1:  # a relative path, or a Windows drive letter
        return Path(url).expanduser()
    return None


def _download(url: str, target: Path) -> None:
    """Download to `<target>.part` (resuming what is there) and rename it once complete."""
    target.parent.mkdir(parents=True, exist_ok=True)
    part = target.with_name(target.name + ".part")
    for _ in range(MAX_ATTEMPTS):
        if _download_once(url, part, target.name):
            os.replace(part, target)
            return
    have = part.stat().st_size if part.exists() else 0
    raise IncompleteDownload(f"the server stopped sending after {have} bytes; run again to resume")


def _download_once(url: str, part: Path, label: str) -> bool:
    """One request appending to `part`; True when `part` now holds the whole file."""
    start = part.stat().st_size if part.exists() else 0
    headers = {"User-Agent": f"ganlab/{__version__}"}
    if start:
        headers["Range"] = f"bytes={start}-"
    try:
        response = urllib.request.build_opener(_StayOnTheList).open(urllib.request.Request(url, headers=headers),
                                                                     timeout=TIMEOUT_S)
    except urllib.error.HTTPError as err:
        if err.code != 416 or not start:
            raise
        # Range not satisfiable: the part is already whole, or it is longer than the file.
        total = _content_range_total(err.headers.get("Content-Range"))
        err.close()
        if total == start:
            return True
        part.unlink()
        return False
    with response:
        if start and response.status == 206:
            total = _content_range_total(response.headers.get("Content-Range"))
            mode = "ab"
        else:  # a fresh download, or a server that ignores Range and sends everything again
            start = 0
            length = response.headers.get("Content-Length")
            total = int(length) if length and length.isdigit() else None
            mode = "wb"
        cap = settings.max_download_bytes()
        if cap is not None and total is not None and total > cap:
            part.unlink(missing_ok=True)
            raise IncompleteDownload(f"the file is {total >> 20} MB, over this lab's {cap >> 20} MB limit")
        done = start
        _report(label, done, total)
        with open(part, mode) as out:
            while chunk := response.read(CHUNK_BYTES):
                out.write(chunk)
                done += len(chunk)
                _report(label, done, total)
                if cap is not None and done > cap:  # a server that announced less, or nothing
                    out.close()
                    part.unlink(missing_ok=True)
                    raise IncompleteDownload(f"the file is over this lab's {cap >> 20} MB limit")
    size = part.stat().st_size
    if total is not None and size > total:
        part.unlink()
        raise IncompleteDownload(f"received {size} bytes but the server announced {total}")
    return total is None or size == total


def _content_range_total(value: str | None) -> int | None:
    """N from 'bytes a-b/N' or 'bytes */N'; None when absent or '*'."""
    if not value or "/" not in value:
        return None
    total = value.rsplit("/", 1)[1].strip()
    return int(total) if total.isdigit() else None


def _describe_url_error(err: BaseException) -> str:
    if isinstance(err, urllib.error.HTTPError):
        return f"HTTP {err.code} {err.reason}"
    if isinstance(err, urllib.error.URLError):
        return f"cannot connect: {err.reason}"
    if isinstance(err, TimeoutError):
        return f"no answer within {TIMEOUT_S:g} s"
    if isinstance(err, IncompleteDownload):
        return f"download incomplete: {err}"
    if isinstance(err, RedirectRefused):
        return str(err)
    return f"{type(err).__name__}: {err}"


def _describe_hub_error(err: BaseException) -> str:
    if isinstance(err, HubUnreachable):
        return str(err)
    if isinstance(err, hub_errors.RepositoryNotFoundError):
        return "no such repository on the hub (or it is private)"
    if isinstance(err, hub_errors.LocalEntryNotFoundError):
        return "cannot reach the hub and no cached copy exists"
    if isinstance(err, hub_errors.EntryNotFoundError):
        return "the repository has no such file"
    first_line = str(err).strip().splitlines()[0] if str(err).strip() else ""
    return f"{type(err).__name__}: {first_line}"


def _url_hint(url: str, target: Path) -> str:
    return (f"download {url} on a machine with network access and save it as {target} "
            f"(GANLAB_CACHE moves the cache; it is now {settings.cache_dir()})")


def _hub_hint(repo_id: str) -> str:
    return (f"run once with network access to fill the hub cache at {hub_cache_dir()} with {repo_id} "
            f"(GANLAB_CACHE moves the cache), or copy a filled cache there")
