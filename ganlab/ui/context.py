"""What every tab shares: the model registry, the pool of loaded generators, and per-session state."""

from __future__ import annotations

import shutil
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import gradio as gr
import numpy as np
from PIL import Image

from ganlab import settings
from ganlab.errors import GanlabError, WeightsUnavailable
from ganlab.lab import Lab
from ganlab.models.pool import ModelPool
from ganlab.models.registry import Registry, load_model
from ganlab.runtime import release_memory
from ganlab.session import PhotoOrigin, SessionRegistry, new_token, persistent_id

DISPLAY_PX = 256


@dataclass
class AppContext:
    registry: Registry = field(default_factory=Registry)
    sessions: SessionRegistry = field(default_factory=SessionRegistry)
    pool: ModelPool = field(init=False)
    _cancels: dict[str, list[threading.Event]] = field(default_factory=dict)
    _sent_faces: dict[str, tuple[np.ndarray, PhotoOrigin]] = field(default_factory=dict)
    _temp_dirs: dict[str, list[Path]] = field(default_factory=dict)
    _forgetters: list[Callable[[str], None]] = field(default_factory=list)
    _labs: dict[int, Lab] = field(default_factory=dict)  # id of a pooled model -> its Lab
    _labs_lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self.pool = ModelPool(lambda model_id: load_model(self.registry, model_id))
        self.sessions.on_expire = self._expire

    def _expire(self, session_id: str) -> None:
        """A session idle past the registry's limit (its page may never have said goodbye)."""
        self.forget(session_id)
        release_memory()

    def new_cancel(self, session_id: str) -> threading.Event:
        """A fresh cancellation event for this session's next long-running job (Stop sets it, and the
        events of its jobs still queued or running: a second Start must not make the first unstoppable)."""
        self.sessions.get(session_id)
        event = threading.Event()
        events = [e for e in self._cancels.get(session_id, []) if not e.is_set()][-7:]
        self._cancels[session_id] = events + [event]
        return event

    def temp_dir(self, session_id: str) -> Path:
        """A new folder for this session's downloads (videos, zips, latents), deleted when it is forgotten."""
        self.sessions.get(session_id)  # activity: the session's idle clock restarts
        folder = Path(tempfile.mkdtemp(prefix="ganlab-"))
        self._temp_dirs.setdefault(session_id, []).append(folder)
        return folder

    def on_forget(self, forget: Callable[[str], None]) -> None:
        """Have `forget(session_id)` called when a session ends (a tab keeping per-session state)."""
        self._forgetters.append(forget)

    def forget(self, session_id: str) -> None:
        """The session ended (its page closed or reloaded): free everything kept for it."""
        self.cancel(session_id)  # a job still running for a closed page stops at its next step
        self._cancels.pop(session_id, None)
        self._sent_faces.pop(session_id, None)
        self.sessions.drop(session_id)
        for model_id in self.registry.remove_owned_by(session_id):
            self.pool.evict(model_id)
        for folder in self._temp_dirs.pop(session_id, []):
            shutil.rmtree(folder, ignore_errors=True)
        for forget in self._forgetters:
            forget(session_id)

    def cancel_event(self, session_id: str) -> threading.Event:
        """The event armed when the session last clicked Start (a fresh one if it never did)."""
        events = self._cancels.get(session_id)
        return events[-1] if events else self.new_cancel(session_id)

    def cancel(self, session_id: str) -> None:
        for event in self._cancels.get(session_id, []):
            event.set()

    def remember_sent_face(self, session_id: str, face: Image.Image, origin: PhotoOrigin | None) -> None:
        """Note the face sent from Align, so a projection of exactly that image can be pasted back."""
        self.sessions.get(session_id)
        if origin is None:
            self._sent_faces.pop(session_id, None)
        else:
            self._sent_faces[session_id] = (np.asarray(face.convert("RGB")), origin)

    def origin_of(self, session_id: str, image: Image.Image) -> PhotoOrigin | None:
        """The photo `image` was aligned from, if it is the face this session sent from Align."""
        sent = self._sent_faces.get(session_id)
        if sent is None:
            return None
        pixels = np.asarray(image.convert("RGB"))
        if sent is None or sent[0].shape != pixels.shape or not np.array_equal(sent[0], pixels):
            return None
        return sent[1]

    def model_ids(self, kind: str, session_id: str = "") -> list[str]:
        """Ids of `kind` models a session may use (with its own added ones, whose kind is known on load)."""
        return [s.id for s in self.registry.list(session_id) if s.kind in (kind, "unknown")]

    def follow_models(self, dropdown, kind: str | None = None) -> None:
        """Keep a model dropdown's choices to what its session may use (models it added included),
        refreshed whenever the visitor opens it."""
        def choices(request: gr.Request):
            sid = session_id(request)
            ids = self.model_ids(kind, sid) if kind else [s.id for s in self.registry.list(sid)]
            return gr.Dropdown(choices=ids)

        dropdown.focus(choices, outputs=dropdown, queue=False)

    def lab(self, session_id: str, model_id: str) -> Lab:
        """The Lab over the pooled model (one per loaded model, so computed directions are kept). Labs of
        models the pool has evicted are dropped here, so they do not keep those models in memory."""
        model = self.model(session_id, model_id)
        with self._labs_lock:
            self._labs = {key: lab for key, lab in self._labs.items() if self.pool.holds(lab.model)}
            lab = self._labs.get(id(model))
            if lab is None or lab.model is not model:
                lab = self._labs[id(model)] = Lab(model, self.registry.get(model_id, viewer=session_id))
            return lab

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
