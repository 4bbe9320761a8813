"""Batch throughput: images/s of `batch invert` in-process and on Ray (1 worker with 1 thread and with
every core, 2 workers with 1 thread each), the scaling from 1 to 2 workers, and Ray's overhead per image
(1 Ray worker against in-process, 1 thread each).

The images are rendered by the bundled face model and inverted with its default method (encoder +
100 steps), so each image costs what a real batch job's image costs on this model. Ray starts once before
the timed runs (its start-up is printed apart). Each configuration runs twice, on N and on 2N images:
the wall-time rate of the 2N run includes the workers' start-up and model loads, and the marginal rate
(N more images over the extra time) is the steady state that more images or a longer job approach,
which is what the scaling and the overhead compare. The marginal rate needs N to span several Ray tasks
per worker: at N = 16 and batch 16, one worker of two has nothing to do in the shorter run.

Run: PYTHONPATH=. python benchmarks/batch.py [--images 32] [--batch 16] [--method balanced]
(the overhead goal is stated at batch 16; the scaling reads best at --images 32 --batch 4)
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import torch

from benchmarks.common import describe_machine


def _run(job, src: Path, out: Path, **options) -> tuple[float, int]:
    from ganlab.batch import run_batch

    start = time.perf_counter()
    summary = list(run_batch(job, src, out, **options))[-1]
    return time.perf_counter() - start, summary.done


def _twice(job, small: Path, large: Path, out: Path, **options) -> tuple[float, int, float]:
    """(wall time of the large run, its images, marginal seconds per image between the two runs)."""
    t_small, n_small = _run(job, small, out / "small", **options)
    t_large, n_large = _run(job, large, out / "large", **options)
    return t_large, n_large, (t_large - t_small) / max(1, n_large - n_small)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=32, help="N: the runs invert N and 2N images")
    parser.add_argument("--batch", type=int, default=16, help="images per Ray task")
    parser.add_argument("--method", default="balanced", help="inversion method")
    args = parser.parse_args()
    os.environ["GANLAB_OFFLINE"] = "1"

    import ray

    import ganlab
    from ganlab.batch import BatchJob

    cpus = os.cpu_count() or 1
    print(describe_machine(torch.device("cpu")), f"({cpus} cores, load {os.getloadavg()[0]:.1f} before the runs)")
    with tempfile.TemporaryDirectory() as tmp:
        small, large = Path(tmp) / "small", Path(tmp) / "large"
        small.mkdir()
        large.mkdir()
        lab = ganlab.load("toyfaces-64", device="cpu")
        for seed in range(2 * args.images):
            picture = lab.render(lab.sample(seed)[0])
            for folder in (small, large) if seed < args.images else (large,):
                picture.save(folder / f"face{seed:04d}.png")
        job = BatchJob("toyfaces-64", task="invert", method=args.method, align=False)
        rows = []
        for threads in (1, cpus):
            torch.set_num_threads(threads)
            rows.append((f"in-process, {threads} thread(s)",
                         *_twice(job, small, large, Path(tmp) / f"inproc{threads}", device="cpu")))
        start = time.perf_counter()
        ray.init(num_cpus=cpus, include_dashboard=False, log_to_driver=False, logging_level="ERROR")
        print(f"ray.init: {time.perf_counter() - start:.1f} s (once, not in the rows below)")
        try:
            for workers, threads in ((1, 1), (1, cpus), (2, 1)):
                rows.append((f"Ray, {workers} worker(s) x {threads} thread(s)",
                             *_twice(job, small, large, Path(tmp) / f"ray{workers}x{threads}", workers=workers,
                                     batch_size=args.batch, device="cpu", threads_per_worker=threads)))
        finally:
            ray.shutdown()
    print(f"\n{2 * args.images} images (marginal: the last {args.images}), method {args.method}, "
          f"Ray batch {args.batch}\n")
    print("| run | wall time (s) | images/s, wall | images/s, marginal |\n|---|---:|---:|---:|")
    for label, seconds, n, marginal in rows:
        print(f"| {label} | {seconds:.1f} | {n / seconds:.2f} | {1 / marginal:.2f} |")
    inproc1, one, two = rows[0][3], rows[2][3], rows[4][3]
    wall_one, wall_two = rows[2][1] / rows[2][2], rows[4][1] / rows[4][2]
    print(f"\n2 Ray workers / 1 Ray worker (1 thread each): {one / two:.2f}x marginal images/s "
          f"({wall_one / wall_two:.2f}x wall, start-up included)")
    print(f"Ray overhead per image (1 Ray worker against in-process, 1 thread each, marginal): "
          f"{one - inproc1:+.3f} s ({100 * (one - inproc1) / inproc1:+.1f}% of the in-process time per image)")


if __name__ == "__main__":
    main()
