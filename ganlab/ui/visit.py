"""Everything the server keeps for one browser session besides its latents, in one object with one lifetime.

The app makes a `Visit` on a session's first event and drops it whole when the session ends (its page
closes, or it is idle past the session registry's limit): nothing else holds per-session state. A
browser session that keeps a token also has a `folder` (beside its stored latents): the directions it
learned and the models it added are written there, so they come back after a reload or a restart.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path

from PIL import Image

from ganlab.edit.apply import EditRenderer
from ganlab.edit.directions import Direction, load_directions, save_directions
from ganlab.errors import GanlabError
from ganlab.fileio import write_atomically
from ganlab.lab import Face

MAX_LEARNED = 32    # learned directions kept per model
MAX_MODELS = 16     # models a session may add (each one's directions are one more file)
MAX_CANCELS = 8     # Start events whose runs a Stop still reaches
MAX_TEMP_DIRS = 8   # download folders (videos, zips, latents) kept per session: older ones are deleted
MAX_UPLOAD_BYTES = 512 << 20  # checkpoint files one session may upload, in all
LEARNED = "learned"       # sub-folder of a session's folder: one directions file per model
UPLOADS = "uploads"       # sub-folder: the checkpoints the visitor uploaded
ADDED_MODELS = "models.json"
UPLOADED = "upload:"      # how models.json names an uploaded checkpoint (its file name in UPLOADS)
CHECKPOINT_SUFFIXES = (".pkl", ".pt", ".pth")


@dataclass
class Visit:
    """One session's jobs, faces, files and edit state.

    `faces`: the last Align run's faces (each a `Face` holding its whole photo, or a plain centre crop
    when no face was found); `sent`: the face sent to Project, until the visitor drops another target
    there; `renderer`: the edit renderer of the latent the Edit tab shows; `learned`: directions the
    visitor learned, per model id, oldest first.
    """

    cancels: list[threading.Event] = field(default_factory=list)
    faces: list[Face | Image.Image] = field(default_factory=list)
    sent: Face | None = None
    temp_dirs: list[Path] = field(default_factory=list)
    learned: dict[str, list[Direction]] = field(default_factory=dict)
    renderer: EditRenderer | None = None
    chosen_for_video: list[str] = field(default_factory=list)
    folder: Path | None = None
    _added: dict[str, str] | None = field(default=None, repr=False)   # id -> location, read once
    _upload_dir: Path | None = field(default=None, repr=False)
    _lock: threading.RLock = field(default_factory=threading.RLock, repr=False)

    def new_cancel(self) -> threading.Event:
        """A fresh event for the next long-running job; a Stop sets it and those of jobs still running."""
        event = threading.Event()
        self.cancels = [e for e in self.cancels if not e.is_set()][-(MAX_CANCELS - 1):] + [event]
        return event

    def cancel_event(self) -> threading.Event:
        """The event armed when the visitor last clicked Start (a fresh one if they never did)."""
        return self.cancels[-1] if self.cancels else self.new_cancel()

    def cancel(self) -> None:
        for event in self.cancels:
            event.set()

    def temp_dir(self) -> Path:
        """A new folder for downloads (videos, zips, latents); deleted with the visit, or once the visitor
        has made `MAX_TEMP_DIRS` newer ones (their page links to the latest downloads only)."""
        folder = Path(tempfile.mkdtemp(prefix="ganlab-"))
        self.temp_dirs.append(folder)
        for old in self.temp_dirs[:-MAX_TEMP_DIRS]:
            shutil.rmtree(old, ignore_errors=True)
        del self.temp_dirs[:-MAX_TEMP_DIRS]
        return folder

    def keep_learned(self, model_id: str, direction: Direction, w_dim: int | None = None) -> None:
        """Add a learned direction; past `MAX_LEARNED` per model the oldest goes. Kept on disk too when
        the session has a folder."""
        with self._lock:
            kept = self.learned_for(model_id, w_dim)[::-1]
            kept.append(direction)
            del kept[:-MAX_LEARNED]
            self.learned[model_id] = kept
            path = self._learned_file(model_id)
            if path is not None:
                save_directions(kept, path)

    def learned_for(self, model_id: str, w_dim: int | None = None) -> list[Direction]:
        """This visitor's directions for a model, newest first (read from the session's folder the first
        time, checked against the model's `w_dim`)."""
        with self._lock:
            if model_id not in self.learned:
                path = self._learned_file(model_id)
                if path is not None and path.is_file() and w_dim is None:
                    return []  # saved ones exist, but cannot be checked yet
                self.learned[model_id] = [] if path is None or not path.is_file() else \
                    load_directions(path, model_id, w_dim)
            return self.learned[model_id][::-1]

    def _learned_file(self, model_id: str) -> Path | None:
        if self.folder is None:
            return None
        return self.folder / LEARNED / (hashlib.sha256(model_id.encode()).hexdigest()[:24] + ".npz")

    def keep_upload(self, source: Path, name: str) -> Path:
        """A copy of an uploaded checkpoint that lives as long as the session (in its folder, or in one
        temporary folder of the visit's), within the session's `MAX_UPLOAD_BYTES`."""
        suffix = Path(name).suffix.lower()
        if suffix not in CHECKPOINT_SUFFIXES:
            raise GanlabError(f"'{name}' is not a checkpoint file: upload a {', '.join(CHECKPOINT_SUFFIXES)} file")
        with self._lock:
            folder = self._uploads_folder()
            used = sum(p.stat().st_size for p in folder.glob("*") if p.is_file())
            if used + Path(source).stat().st_size > MAX_UPLOAD_BYTES:
                raise GanlabError(f"this session's uploads would pass {MAX_UPLOAD_BYTES >> 20} MB: remove one of "
                                  "your models first (Models tab) or add it by URL")
            stem = "".join(c if c.isalnum() or c in "-_." else "-" for c in Path(name).stem)[:60] or "checkpoint"
            target, n = folder / f"{stem}{suffix}", 1
            while target.exists():
                n += 1
                target = folder / f"{stem}-{n}{suffix}"
            shutil.copyfile(source, target)
        return target

    def _uploads_folder(self) -> Path:
        if self.folder is not None:
            folder = self.folder / UPLOADS
            folder.mkdir(parents=True, exist_ok=True)
            return folder
        if self._upload_dir is None:  # not among the rotated download folders: it outlives them
            self._upload_dir = Path(tempfile.mkdtemp(prefix="ganlab-uploads-"))
        return self._upload_dir

    def uploaded_path(self, location: str) -> Path | None:
        """The file a remembered `upload:NAME` location names (None for other locations)."""
        if not location.startswith(UPLOADED):
            return None
        folder = self.folder / UPLOADS if self.folder is not None else self._upload_dir
        return None if folder is None else folder / Path(location.removeprefix(UPLOADED)).name

    def check_room_for_a_model(self) -> None:
        if len(self.added_models()) >= MAX_MODELS:
            raise GanlabError(f"a session can add at most {MAX_MODELS} models: remove one first (Models tab)")

    def remember_model(self, model_id: str, location: str) -> None:
        """Note a model the visitor added, so that a restart adds it again under the same id."""
        with self._lock:
            models = self._models()
            models[model_id] = location
            self._save_models(models)

    def forget_model(self, model_id: str) -> None:
        """The visitor removed a model they added: it is not added again, and its uploaded file goes."""
        with self._lock:
            models = self._models()
            location = models.pop(model_id, None)
            self._save_models(models)
        uploaded = None if location is None else self.uploaded_path(location)
        if uploaded is not None:
            uploaded.unlink(missing_ok=True)

    def added_models(self) -> dict[str, str]:
        """Models the visitor added and kept: id -> where it came from."""
        with self._lock:
            return dict(self._models())

    def _models(self) -> dict[str, str]:
        if self._added is None:
            self._added = {}
            path = None if self.folder is None else self.folder / ADDED_MODELS
            try:
                saved = json.loads(path.read_text()) if path is not None and path.is_file() else {}
            except (OSError, ValueError):
                saved = {}
            if isinstance(saved, dict):
                self._added = {str(k): str(v) for k, v in saved.items()}
        return self._added

    def _save_models(self, models: dict[str, str]) -> None:
        if self.folder is not None:
            write_atomically(self.folder / ADDED_MODELS, json.dumps(models).encode())

    def end(self) -> None:
        """Stop its jobs at their next step and delete its files."""
        self.cancel()
        for folder in self.temp_dirs + ([self._upload_dir] if self._upload_dir else []):
            shutil.rmtree(folder, ignore_errors=True)
        self.temp_dirs.clear()
        self.faces, self.sent, self.renderer = [], None, None
