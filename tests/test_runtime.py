"""Process-wide CPU settings: the thread choice and the allocator switches."""

from __future__ import annotations

import torch

from ganlab import runtime


def test_thread_choice_stays_within_the_cores_and_an_explicit_count_wins(monkeypatch):
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    cores = runtime.available_cores()
    monkeypatch.setattr(runtime.os, "getloadavg", lambda: (0.0, 0.0, 0.0))
    assert runtime.choose_threads() == cores
    monkeypatch.setattr(runtime.os, "getloadavg", lambda: (cores + 5.0, 0.0, 0.0))
    assert runtime.choose_threads() == 1
    before = torch.get_num_threads()
    try:
        assert runtime.tune_threads(1) == 1 and torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(before)


def test_allocator_tuning_takes_effect_on_glibc_and_memory_can_be_released():
    import sys

    assert runtime.tune_allocator() is sys.platform.startswith("linux")
    assert runtime.limit_arenas(8) is sys.platform.startswith("linux")
    runtime.release_memory()
    x = torch.ones(64 << 20, dtype=torch.uint8)  # a large block allocates and frees normally afterwards
    assert int(x.sum()) == 64 << 20


def test_omp_num_threads_and_a_container_quota_are_respected(monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "3")
    assert runtime.choose_threads() == 3
    monkeypatch.setattr(runtime, "_cgroup_cpus", lambda: 1)
    assert runtime.available_cores() == 1
