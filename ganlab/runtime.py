"""Process-wide CPU settings that decide much of ganlab's speed: torch threads and the allocator.

The library calls none of these by itself; the CLI, the app and the benchmarks call them once at start.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import gc
import os
import sys
from pathlib import Path

import torch

# glibc mallopt parameters (malloc.h)
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
_M_ARENA_MAX = -8
_ALLOCATOR_KEEP_BYTES = 1 << 30  # mallopt takes a C int: stay below 2**31
_SERVER_MMAP_BYTES = 1 << 20


def available_cores() -> int:
    """Cores this process may use: its affinity mask where the OS has one, within a container's CPU quota."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:
        cores = os.cpu_count() or 1
    quota = _cgroup_cpus()
    return max(1, min(cores, quota)) if quota else cores


def _cgroup_cpus() -> int | None:
    """Whole CPUs of a cgroup v2 quota (`cpu.max`), None without one."""
    try:
        limit, period = Path("/sys/fs/cgroup/cpu.max").read_text().split()[:2]
        return None if limit == "max" else max(1, int(int(limit) / int(period)))
    except (OSError, ValueError):
        return None


def choose_threads() -> int:
    """Torch threads for this process: the cores that other work leaves idle, at least one.

    Oversubscribing a small machine costs far more than an idle core: two threads beside a busy
    neighbour run several times slower than one. `OMP_NUM_THREADS`, when set, is the user's choice.
    """
    given = os.environ.get("OMP_NUM_THREADS", "").strip()
    if given.isdigit() and int(given) > 0:
        return int(given)
    cores = available_cores()
    try:
        busy = round(os.getloadavg()[0])
    except (AttributeError, OSError):
        busy = 0
    return max(1, min(cores, cores - busy))


def tune_threads(threads: int | None = None) -> int:
    """Set torch's CPU threads to `threads`, or to `choose_threads()`; returns the number used."""
    n = threads or choose_threads()
    torch.set_num_threads(n)
    return n


def tune_cuda() -> None:
    """Let cuDNN time its algorithms once per input shape: projection repeats one shape many times."""
    torch.backends.cudnn.benchmark = True


@functools.cache
def _libc():
    """glibc, loaded once (every expired app session calls `release_memory`)."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        return libc if hasattr(libc, "mallopt") and hasattr(libc, "malloc_trim") else None
    except OSError:
        return None


def tune_allocator() -> bool:
    """Keep freed activation buffers for reuse instead of returning them to the OS at every free.

    glibc maps each large block afresh and unmaps it on free, so every big activation of every step
    pays page faults and zeroing. Returns whether the setting took effect (glibc only).
    """
    libc = _libc()
    if libc is None:
        return False
    ok = libc.mallopt(_M_MMAP_THRESHOLD, _ALLOCATOR_KEEP_BYTES) == 1
    return libc.mallopt(_M_TRIM_THRESHOLD, _ALLOCATOR_KEEP_BYTES) == 1 and ok


def limit_arenas(arenas: int = 2) -> bool:
    """Let threads share `arenas` malloc arenas (glibc gives each busy thread its own by default).

    A server whose handlers run in a pool of threads otherwise keeps memory that visitors' work freed
    spread over many arenas, where it is neither reused nor returned. Call before the threads start;
    returns whether it took effect (glibc only).
    """
    libc = _libc()
    return libc is not None and libc.mallopt(_M_ARENA_MAX, arenas) == 1


def map_large_blocks(threshold: int = _SERVER_MMAP_BYTES) -> bool:
    """Give every block over `threshold` its own mapping, returned to the OS the moment it is freed.

    glibc otherwise raises its mapping threshold each time such a block is freed, after which big
    buffers (a visitor's decoded photo, a frame batch) are carved from the heap, interleaved with small
    objects that outlive them, and the memory they leave cannot be trimmed. For a server, not for the
    projection loop (`tune_allocator` does the opposite there). Returns whether it took effect.
    """
    libc = _libc()
    return libc is not None and libc.mallopt(_M_MMAP_THRESHOLD, threshold) == 1


def release_memory() -> None:
    """Free what only reference cycles still hold, then hand the allocator's free memory back to the OS
    (after a long job ends, or a visitor's session is dropped)."""
    gc.collect()
    libc = _libc()
    if libc is not None:
        libc.malloc_trim(0)
