"""Batch throughput: images/s of `batch invert` in-process and on Ray (1 worker with 1 thread and with
every core, 2 workers with 1 thread each), the scaling from 1 to 2 workers, and Ray's overhead per image
(1 Ray worker against in-process, 1 thread each).

The images are rendered by the bundled face model and inverted with its default method (encoder +
100 steps), so each image costs what a real batch job's image costs on this model. Ray starts once before
the timed runs (its start-up is printed apart); each timed run includes its workers' model loads.

Run: PYTHONPATH=. python benchmarks/batch.py [--images 32] [--batch 16] [--method balanced]
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=32, help="images in the folder")
    parser.add_argument("--batch", type=int, default=16, help="images per Ray task")
    parser.add_argument("--method", default="balanced", help="inversion method")
    args = parser.parse_args()
    os.environ["GANLAB_OFFLINE"] = "1"

    import ray

    import ganlab
    from ganlab.batch import BatchJob

    cpus = os.cpu_count() or 1
    print(describe_machine(torch.device("cpu")), f"({cpus} cores)")
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "src"
        src.mkdir()
        lab = ganlab.load("toyfaces-64", device="cpu")
        for seed in range(args.images):
            lab.render(lab.sample(seed)[0]).save(src / f"face{seed:04d}.png")
        job = BatchJob("toyfaces-64", task="invert", method=args.method, align=False)
        rows = []
        for threads in (1, cpus):
            torch.set_num_threads(threads)
            seconds, n = _run(job, src, Path(tmp) / f"inproc{threads}", device="cpu")
            rows.append((f"in-process, {threads} thread(s)", seconds, n))
        start = time.perf_counter()
        ray.init(num_cpus=cpus, include_dashboard=False, log_to_driver=False, logging_level="ERROR")
        print(f"ray.init: {time.perf_counter() - start:.1f} s (once, not in the rows below)")
        try:
            for workers, threads in ((1, 1), (1, cpus), (2, 1)):
                seconds, n = _run(job, src, Path(tmp) / f"ray{workers}x{threads}", workers=workers,
                                  batch_size=args.batch, device="cpu", threads_per_worker=threads)
                rows.append((f"Ray, {workers} worker(s) x {threads} thread(s)", seconds, n))
        finally:
            ray.shutdown()
    print(f"\n{args.images} images, method {args.method}, Ray batch {args.batch}\n")
    print("| run | wall time (s) | images/s | s/image |\n|---|---:|---:|---:|")
    for label, seconds, n in rows:
        print(f"| {label} | {seconds:.1f} | {n / seconds:.2f} | {seconds / n:.2f} |")
    per_image = [seconds / n for _, seconds, n in rows]
    inproc1, one, two = per_image[0], per_image[2], per_image[4]
    print(f"\n2 Ray workers / 1 Ray worker (1 thread each): {one / two:.2f}x images/s")
    print(f"Ray overhead per image (1 Ray worker against in-process, 1 thread each): {one - inproc1:+.3f} s "
          f"({100 * (one - inproc1) / inproc1:+.1f}% of the in-process time per image)")


if __name__ == "__main__":
    main()
