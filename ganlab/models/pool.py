"""A pool of loaded generators shared by every user of the app.

Lazy: a model loads on first request. One copy per (model, device). Thread-safe: concurrent
requests for the same model wait for one load. Least-recently-used models are evicted when the
pool's weights exceed a memory budget.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Callable

import torch

from ganlab.models.base import GanModel

Loader = Callable[[str], GanModel]


def default_device() -> torch.device:
    """CUDA when present, else the CPU."""
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def model_bytes(model: GanModel) -> int:
    """Bytes held by the model's parameters and buffers."""
    net = getattr(model, "net")
    return sum(t.numel() * t.element_size() for t in list(net.parameters()) + list(net.buffers()))


class ModelPool:
    """Loaded generators keyed by (model id, device), evicted least-recently-used past `budget_bytes`."""

    def __init__(self, loader: Loader, budget_bytes: int = 4 * 2 ** 30):
        self._loader = loader
        self.budget_bytes = budget_bytes
        self._models: OrderedDict[tuple[str, str], GanModel] = OrderedDict()
        self._lock = threading.Lock()
        self._loading: dict[tuple[str, str], threading.Lock] = {}

    def get(self, model_id: str, device: torch.device | str | None = None) -> GanModel:
        """The model on `device` (default: CUDA if present), loading it at most once."""
        key = (model_id, str(torch.device(device) if device is not None else default_device()))
        with self._lock:
            if key in self._models:
                self._models.move_to_end(key)
                return self._models[key]
            load_lock = self._loading.setdefault(key, threading.Lock())
        with load_lock:
            with self._lock:
                if key in self._models:
                    self._models.move_to_end(key)
                    return self._models[key]
            model = self._loader(model_id).to(key[1])
            with self._lock:
                self._models[key] = model
                self._loading.pop(key, None)
                self._evict(keep=key)
            return model

    def _evict(self, keep: tuple[str, str]) -> None:
        total = sum(model_bytes(m) for m in self._models.values())
        for key in list(self._models):
            if total <= self.budget_bytes:
                break
            if key == keep:
                continue
            total -= model_bytes(self._models.pop(key))

    def loaded(self) -> list[tuple[str, str, int]]:
        """(model id, device, bytes) of each loaded model, least recently used first."""
        with self._lock:
            return [(mid, dev, model_bytes(m)) for (mid, dev), m in self._models.items()]

    def has(self, model_id: str, device: torch.device | str | None = None) -> bool:
        """Whether `model_id` is loaded on `device` (default: CUDA if present): `get` returns at once."""
        key = (model_id, str(torch.device(device) if device is not None else default_device()))
        with self._lock:
            return key in self._models

    def holds(self, model: GanModel) -> bool:
        """Whether `model` is still one of the pool's loaded models (not evicted)."""
        with self._lock:
            return any(m is model for m in self._models.values())

    def evict(self, model_id: str) -> None:
        with self._lock:
            for key in [k for k in self._models if k[0] == model_id]:
                del self._models[key]
