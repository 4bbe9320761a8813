"""What every tab shares: the model registry, the pool of loaded generators, and per-session state."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

import numpy as np

from ganlab.models.pool import ModelPool
from ganlab.models.registry import Registry, load_model
from ganlab.session import SessionRegistry

DISPLAY_PX = 256


@dataclass
class AppContext:
    registry: Registry = field(default_factory=Registry)
    sessions: SessionRegistry = field(default_factory=SessionRegistry)
    pool: ModelPool = field(init=False)
    _cancels: dict[str, threading.Event] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.pool = ModelPool(lambda model_id: load_model(self.registry, model_id))

    def new_cancel(self, session_id: str) -> threading.Event:
        """A fresh cancellation event for this session's long-running job (Stop sets it)."""
        event = threading.Event()
        self._cancels[session_id] = event
        return event

    def cancel(self, session_id: str) -> None:
        event = self._cancels.get(session_id)
        if event is not None:
            event.set()

    def model_ids(self, kind: str) -> list[str]:
        return [s.id for s in self.registry.list() if s.kind == kind]


def enlarge(picture: np.ndarray, size: int = DISPLAY_PX) -> np.ndarray:
    """Nearest-neighbour enlargement so small demo images are visible pixel for pixel."""
    factor = max(1, size // max(picture.shape[:2]))
    return picture.repeat(factor, axis=0).repeat(factor, axis=1)
