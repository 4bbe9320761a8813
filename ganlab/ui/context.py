"""What every tab shares: the model registry, the pool of loaded generators, and per-session state."""

from __future__ import annotations

import functools
import inspect
import re
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator, TypeVar

import gradio as gr
import numpy as np

from ganlab import settings
from ganlab.edit.apply import EditRenderer
from ganlab.errors import BadCheckpoint, GanlabError, WeightsUnavailable
from ganlab.lab import Lab
from ganlab.models.download import DownloadProgress, reporting
from ganlab.models.pool import ModelPool
from ganlab.models.registry import ModelSpec, Registry, load_model, status
from ganlab.runtime import release_memory
from ganlab.session import LatentStore, SessionRegistry, StoredLatent, new_token, persistent_id
from ganlab.ui.visit import UPLOADED, Visit

DISPLAY_PX = 256
AVAILABILITY = {"downloadable": " (downloads on first use)", "missing": " (not available: weights missing)"}
MAX_RENDERERS = 8  # sessions whose slider renders are kept warm (the others re-render their first move)
F = TypeVar("F", bound=Callable)


def readable(handler: F) -> F:
    """The one place where a ganlab error (bad input, missing weights ...) becomes the page's error
    message (a public app's without server paths: a missing model's message lists where it looked);
    anything else is a bug and surfaces as one. Works for streaming handlers too."""
    if inspect.isgeneratorfunction(handler):
        @functools.wraps(handler)
        def stream(*args, **kwargs):
            try:
                yield from handler(*args, **kwargs)
            except GanlabError as err:
                raise _page_error(err) from None
        return stream  # type: ignore[return-value]

    @functools.wraps(handler)
    def call(*args, **kwargs):
        try:
            return handler(*args, **kwargs)
        except GanlabError as err:
            raise _page_error(err) from None
    return call  # type: ignore[return-value]


def _page_error(err: GanlabError) -> gr.Error:
    message = str(err)
    return gr.Error(without_paths(message) if settings.public() else message, print_exception=False)


@dataclass
class AppContext:
    registry: Registry = field(default_factory=Registry)
    sessions: SessionRegistry = field(default_factory=SessionRegistry)
    pool: ModelPool = field(init=False)
    _visits: dict[str, Visit] = field(default_factory=dict)
    _warm: dict[str, None] = field(default_factory=dict)  # sessions whose edit renderer is kept, oldest first
    _labs: dict[int, Lab] = field(default_factory=dict)  # id of a pooled model -> its Lab
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self.pool = ModelPool(lambda model_id: load_model(self.registry, model_id))
        self.sessions.on_expire = self._expire

    def _expire(self, session_ids: list[str]) -> None:
        """Sessions idle past the registry's limit (their pages may never have said goodbye); the memory
        they held goes back to the OS once for the whole sweep."""
        for session_id in session_ids:
            self.forget(session_id)
        release_memory()

    def visit(self, session_id: str) -> Visit:
        """The session's server-side state (made on first use); each call counts as activity."""
        self.sessions.get(session_id)  # the idle clock restarts (and idle sessions are swept)
        with self._lock:
            visit = self._visits.get(session_id)
            fresh = visit is None
            if fresh:
                visit = self._visits[session_id] = Visit(folder=self.sessions.folder_of(session_id))
        if fresh:  # a reload, a restart, or a page open past its session's idle limit
            self._restore_models(session_id, visit)
        return visit

    def restore(self, session_id: str) -> None:
        """When a page loads: its session's state, with the models it added (see `_restore_models`)."""
        self.visit(session_id)

    def _restore_models(self, session_id: str, visit: Visit) -> None:
        """The models a session added are there again, under the ids its latents name. One that can no
        longer be added (its file gone, or not allowed in public mode) is left out."""
        for model_id, location in visit.added_models().items():
            if model_id not in self.registry.specs:
                uploaded = visit.uploaded_path(location)
                try:
                    self.registry.add(str(uploaded or location), model_id=model_id, public=settings.public(),
                                      owner=session_id, uploaded=uploaded is not None)
                except GanlabError:
                    continue

    def latents(self, session_id: str) -> LatentStore:
        """The session's stored latents."""
        return self.sessions.get(session_id)

    def store(self, session_id: str, latent: StoredLatent) -> StoredLatent:
        """Keep `latent` in the session (checked against its model, with a thumbnail so every stored
        latent shows in the Session gallery); returns it under the name it got."""
        lab = self.lab(session_id, latent.model_id)
        if latent.thumbnail is None:
            latent.thumbnail = np.asarray(lab.render(latent))
        return self.latents(session_id).add(latent, lab.model)

    def forget(self, session_id: str) -> None:
        """The session ended (its page closed or reloaded): free everything kept for it."""
        with self._lock:
            visit = self._visits.pop(session_id, None)
            self._warm.pop(session_id, None)
        if visit is not None:
            visit.end()  # a job still running for a closed page stops at its next step
        self.sessions.drop(session_id)
        for model_id in self.registry.remove_owned_by(session_id):
            self.pool.evict(model_id)

    def add_model(self, session_id: str, location: str) -> ModelSpec:
        """A checkpoint (path or URL; a public app takes allowed https URLs only) for this session alone,
        remembered so that a reload or a restart adds it again."""
        visit = self.visit(session_id)
        visit.check_room_for_a_model()
        spec = self.registry.add(location, public=settings.public(), owner=session_id)
        visit.remember_model(spec.id, location)
        return spec

    def add_upload(self, session_id: str, source: Path, name: str) -> ModelSpec:
        """A checkpoint file the visitor uploaded (`name`: its own file name), kept with the session and
        read at once, so a bad file is said here and leaves nothing behind."""
        visit = self.visit(session_id)
        visit.check_room_for_a_model()
        kept = visit.keep_upload(source, name)
        spec = self.registry.add(str(kept), owner=session_id, uploaded=True)
        visit.remember_model(spec.id, UPLOADED + kept.name)
        try:
            self.model(session_id, spec.id)
        except Exception:  # whatever went wrong, nothing of it stays: not the entry, the note or the file
            self.remove_model(session_id, spec.id)
            raise
        return spec

    def remove_model(self, session_id: str, model_id: str) -> None:
        """A model the session added goes: from the lists, the pool, its saved note and its uploaded file."""
        if self.registry.get(model_id, viewer=session_id).owner != session_id:
            raise GanlabError(f"'{model_id}' is one of the lab's models: only models you added can be removed")
        self.registry.remove(model_id)
        self.pool.evict(model_id)
        self.visit(session_id).forget_model(model_id)

    def edit_renderer(self, session_id: str, item: StoredLatent) -> EditRenderer:
        """The renderer of the latent the session edits: the original is rendered once, and each slider
        move only from the first block it changes. Only the `MAX_RENDERERS` most recent sessions keep
        theirs (each holds a render's features and its model)."""
        lab = self.lab(session_id, item.model_id)
        visit = self.visit(session_id)
        kept = visit.renderer
        if kept is None or not kept.matches(lab.model, lab.model.to_ws(item.tensor, item.space), item.tuned):
            kept = visit.renderer = lab.edit_renderer(item)
        with self._lock:
            self._warm.pop(session_id, None)
            self._warm[session_id] = None
            while len(self._warm) > MAX_RENDERERS:
                cold = next(iter(self._warm))
                del self._warm[cold]
                if cold in self._visits:
                    self._visits[cold].renderer = None
        return kept

    def model_choices(self, kind: str | None = None, session_id: str = "") -> list[tuple[str, str]]:
        """(label, id) of the models a session may use (its own added ones too, whose kind is known only
        on load), each label saying when the model cannot load from what is on disk now."""
        return [(spec.id + AVAILABILITY.get(status(spec).state, ""), spec.id)
                for spec in self.registry.list(session_id) if kind is None or spec.kind in (kind, "unknown")]

    def model_dropdown(self, kind: str | None, value: str, label: str = "Model", **options) -> gr.Dropdown:
        """A model dropdown whose choices follow what its session may use, refreshed when it is opened."""
        dropdown = gr.Dropdown(self.model_choices(kind), value=value, label=label, **options)

        def choices(request: gr.Request):
            return gr.Dropdown(choices=self.model_choices(kind, session_id(request)))

        dropdown.focus(choices, outputs=dropdown, queue=False)
        return dropdown

    def lab(self, session_id: str, model_id: str) -> Lab:
        """The Lab over the pooled model (one per loaded model, so computed directions are kept). Labs of
        models the pool has evicted are dropped here, so they do not keep those models in memory."""
        model = self.model(session_id, model_id)
        with self._lock:
            self._labs = {key: lab for key, lab in self._labs.items() if self.pool.holds(lab.model)}
            lab = self._labs.get(id(model))
            if lab is None or lab.model is not model:
                lab = self._labs[id(model)] = Lab(model, self.registry.get(model_id, viewer=session_id),
                                                  self.registry)
            return lab

    def lab_loading(self, session_id: str, model_id: str, every_s: float = 0.5) -> Iterator[str]:
        """`lab` for a long handler: while the model downloads or loads, yields a line for the page every
        `every_s` (file, MB done of total, time left); the Lab is the generator's return value
        (`lab = yield from ctx.lab_loading(...)`). A loaded model returns at once, yielding nothing."""
        self.registry.get(model_id, viewer=session_id)
        if self.pool.has(model_id):
            return self.lab(session_id, model_id)
        files: dict[str, tuple[DownloadProgress, float]] = {}  # each file's latest progress and when it began
        outcome: dict[str, object] = {}

        def heard(rec: DownloadProgress) -> None:
            began = files[rec.file][1] if rec.file in files else time.monotonic()
            files[rec.file] = (rec, began)

        def load() -> None:
            try:
                with reporting(heard):
                    outcome["lab"] = self.lab(session_id, model_id)
            except BaseException as err:  # raised again in the handler's thread, where the page hears it
                outcome["error"] = err

        worker = threading.Thread(target=load, name=f"load-{model_id}", daemon=True)
        started = time.monotonic()
        worker.start()
        while worker.is_alive():
            worker.join(every_s)
            if worker.is_alive():
                yield loading_line(model_id, files, time.monotonic() - started)
        if "error" in outcome:
            raise outcome["error"]  # type: ignore[misc]
        return outcome["lab"]

    def model(self, session_id: str, model_id: str):
        """The loaded model, if this session may use it: other sessions' models are unknown to it.

        In public mode a model whose weights are missing says so without what was tried or where the
        files would go (cache paths are the server's business).
        """
        self.registry.get(model_id, viewer=session_id)
        try:
            return self.pool.get(model_id)
        except WeightsUnavailable:
            if not settings.public():
                raise
            raise GanlabError(f"the weights of '{model_id}' are not available on this server "
                              "(they could not be fetched); try a bundled model") from None
        except BadCheckpoint as err:
            if not settings.public():
                raise
            raise BadCheckpoint(without_paths(str(err))) from None


def loading_line(model_id: str, files: dict[str, tuple[DownloadProgress, float]], elapsed_s: float) -> str:
    """What the page says while a model arrives: each file still downloading (MB done of total, time
    left at the rate so far), else that the weights are being read."""
    now = time.monotonic()
    lines = []
    for rec, began in list(files.values()):  # a copy: the loading thread adds files as they begin
        if rec.total is not None and rec.done >= rec.total:
            continue
        done_mb = rec.done / 1e6
        if rec.total:
            rate = rec.done / max(now - began, 1e-3)
            left = f", about {(rec.total - rec.done) / rate:.0f} s left" if rec.done and rate else ""
            lines.append(f"**Downloading** {rec.file}: {done_mb:.0f} of {rec.total / 1e6:.0f} MB "
                         f"({100 * rec.done / rec.total:.0f}%){left}")
        else:
            lines.append(f"**Downloading** {rec.file}: {done_mb:.0f} MB so far")
    if lines:
        lines.append("A model's first use downloads its weights once; later runs start at once.")
    else:
        lines.append(f"**Loading** {model_id} ... ({elapsed_s:.0f} s)")
    return "\n\n".join(lines)


def relay(lines: Iterator[str], wrap: Callable[[str], tuple]):
    """Pass a sub-generator's lines on as the handler's outputs (`wrap`), returning its return value."""
    while True:
        try:
            line = next(lines)
        except StopIteration as done:
            return done.value
        yield wrap(line)


def image_file(**options) -> gr.Image:
    """An image input that hands the handler the uploaded file itself, undecoded: ganlab's own loader
    reads it (in its own mode: 16-bit, transparency, EXIF), and a file that is no image at all gets
    ganlab's one-line reason instead of Gradio's generic error. (The instance's preprocessing is
    replaced rather than subclassed: a subclass would be a custom component the page cannot draw.)"""
    image = gr.Image(type="filepath", image_mode=None, format="png", **options)
    decode = image.preprocess

    def preprocess(payload):
        if payload is None or payload.path is None:  # nothing, or a data: URL (webcam, clipboard)
            return decode(payload)
        return str(payload.path)

    image.preprocess = preprocess
    return image


def without_paths(message: str) -> str:
    """`message` with each absolute path cut to its file name (a public app tells nothing of its disk)."""
    return re.sub(r"(?<![\w.])/[^\s'\"():,]+", lambda m: Path(m.group(0)).name, message)


def upload_name(source) -> str | None:
    """How messages name an uploaded file: its base name only, never the server folder it sits in."""
    return Path(source).name if isinstance(source, (str, Path)) else None


_BROWSERS: dict[str, str] = {}  # a page's Gradio session hash -> the session id its browser keeps
_BROWSERS_LOCK = threading.Lock()


def bind_browser(request, token: str) -> str:
    """When a page loads: from now on its session is the one its browser keeps (`token`, saved in the
    browser), so its latents survive reloads and restarts. Returns the token the browser should keep
    (a new one when it had none, or one ganlab did not issue)."""
    sid = persistent_id(token)
    if sid is None:
        token = new_token()
        sid = persistent_id(token)
    with _BROWSERS_LOCK:
        _BROWSERS[request.session_hash] = sid
    return token


def unbind_browser(request) -> str | None:
    """When a page closes: its session id, if no other open page of the same browser still uses it."""
    with _BROWSERS_LOCK:
        sid = _BROWSERS.pop(request.session_hash, None) or request.session_hash
        return None if sid in _BROWSERS.values() else sid


def session_id(request) -> str:
    """The browser session's key for server-side state (a fixed key when run outside a browser)."""
    with _BROWSERS_LOCK:
        bound = _BROWSERS.get(request.session_hash)
    return bound or request.session_hash or "local"


def side_by_side(left: np.ndarray, right: np.ndarray, size: int = 512) -> np.ndarray:
    """Two uint8 pictures next to each other, enlarged for display."""
    return enlarge(np.concatenate([left, right], axis=1), size=size)


def enlarge(picture: np.ndarray, size: int = DISPLAY_PX) -> np.ndarray:
    """Nearest-neighbour enlargement so small demo images are visible pixel for pixel."""
    factor = max(1, size // max(picture.shape[:2]))
    return picture.repeat(factor, axis=0).repeat(factor, axis=1)
