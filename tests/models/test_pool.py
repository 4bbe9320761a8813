"""The shared model pool loads each model once, across threads, and evicts least-recently-used."""

from __future__ import annotations

import threading
import time

import torch

from ganlab.models.loaders import load_checkpoint
from ganlab.models.pool import ModelPool, model_bytes
from ganlab.settings import assets_dir


def _counting_loader(calls: list[str], delay: float = 0.0):
    def load(model_id: str):
        calls.append(model_id)
        time.sleep(delay)
        return load_checkpoint(assets_dir() / "models" / "toyfaces-64", name=model_id)
    return load


def test_concurrent_requests_load_a_model_once():
    calls: list[str] = []
    pool = ModelPool(_counting_loader(calls, delay=0.3))
    got = []
    threads = [threading.Thread(target=lambda: got.append(pool.get("a", "cpu"))) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert calls == ["a"] and all(m is got[0] for m in got)


def test_least_recently_used_model_is_evicted_past_the_budget():
    calls: list[str] = []
    probe = _counting_loader([])("p")
    pool = ModelPool(_counting_loader(calls), budget_bytes=int(model_bytes(probe) * 2.5))
    pool.get("a", "cpu"), pool.get("b", "cpu"), pool.get("a", "cpu"), pool.get("c", "cpu")
    assert [mid for mid, _dev, _b in pool.loaded()] == ["a", "c"]
    pool.get("b", "cpu")
    assert calls == ["a", "b", "c", "b"]


def test_models_land_on_the_requested_device():
    pool = ModelPool(_counting_loader([]))
    assert pool.get("a", "cpu").device == torch.device("cpu")
