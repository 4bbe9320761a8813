"""Everything the server keeps for one browser session besides its latents, in one object with one lifetime.

The app makes a `Visit` on a session's first event and drops it whole when the session ends (its page
closes, or it is idle past the session registry's limit): nothing else holds per-session state.
"""

from __future__ import annotations

import shutil
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path

from PIL import Image

from ganlab.edit.apply import EditRenderer
from ganlab.edit.directions import Direction
from ganlab.lab import Face

MAX_LEARNED = 32    # learned directions kept per model
MAX_CANCELS = 8     # Start events whose runs a Stop still reaches


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
        """A new folder for downloads (videos, zips, latents); deleted with the visit."""
        folder = Path(tempfile.mkdtemp(prefix="ganlab-"))
        self.temp_dirs.append(folder)
        return folder

    def keep_learned(self, model_id: str, direction: Direction) -> None:
        """Add a learned direction; past `MAX_LEARNED` per model the oldest goes."""
        kept = self.learned.setdefault(model_id, [])
        kept.append(direction)
        del kept[:-MAX_LEARNED]

    def learned_for(self, model_id: str) -> list[Direction]:
        """This visitor's directions for a model, newest first."""
        return self.learned.get(model_id, [])[::-1]

    def end(self) -> None:
        """Stop its jobs at their next step and delete its files."""
        self.cancel()
        for folder in self.temp_dirs:
            shutil.rmtree(folder, ignore_errors=True)
        self.temp_dirs.clear()
        self.faces, self.sent, self.renderer = [], None, None
