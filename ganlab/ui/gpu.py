"""ZeroGPU support: `spaces.GPU` on GPU-bound handlers when running on a Hugging Face Space, else nothing."""

from __future__ import annotations

from typing import Callable, TypeVar

F = TypeVar("F", bound=Callable)


def gpu(duration: int = 60) -> Callable[[F], F]:
    """Request a ZeroGPU slot of `duration` seconds per call when `spaces` is importable; a no-op elsewhere."""
    try:
        import spaces
    except ImportError:
        return lambda fn: fn
    return spaces.GPU(duration=duration)
