"""Images per second of the procedural renderers on this CPU (single process), to size dataset jobs.

Run from the repository root: python -m benchmarks.render_speed [--n 2000] [--size 64]
"""

from __future__ import annotations

import argparse
import time
from typing import Callable

from ganlab.data import render_faces, render_objects


def images_per_second(render: Callable[[int, int, int], object], n: int, size: int, repeats: int = 3) -> float:
    """Best of `repeats` timed runs after a warm-up, so a busy shared CPU skews the figure less."""
    render(16, 0, size)
    best = float("inf")
    for r in range(repeats):
        t0 = time.perf_counter()
        render(n, r + 1, size)
        best = min(best, time.perf_counter() - t0)
    return n / best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=2000, help="images per timed run")
    parser.add_argument("--size", type=int, default=64, help="image side in pixels")
    args = parser.parse_args()
    for name, render in [("toyfaces", render_faces), ("toyobjects", render_objects)]:
        rate = images_per_second(render, args.n, args.size)
        print(f"{name:<11} {args.size}px: {rate:8.0f} images/s")


if __name__ == "__main__":
    main()
