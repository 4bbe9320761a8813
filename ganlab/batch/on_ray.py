"""The batch pipeline on Ray Data: the pending units of work (sources to invert, or, in a second run,
sources to blend) as a dataset, `map_batches` over a pool of actors (each loads the model once, as
`Worker`), and the finished units streamed back to the driver, which commits each to the manifest. A
local Ray starts itself; `address` joins an existing cluster.

Ray's own checkpointing is not used: the manifest is the record of what is done, so a driver killed at
any point resumes from it, and a source a dead actor was working on is retried by Ray on another one (a
few times: a source that keeps killing its worker ends the run, and the next run tries it again). `src`
and `out` must be at the same paths on every node of a cluster (a shared disk).
"""

from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path
from typing import Iterator

import numpy as np

from ganlab.batch.pipeline import BatchJob, Worker
from ganlab.errors import GanlabError

CPU_SHARE = 0.5  # CPUs reserved per CPU-only actor: whole CPUs for every actor would leave none to the
                 # dataset's own read tasks on a small machine, and the run would wait forever
RETRIES = 3      # times a batch is retried after its actor died (Ray's default is forever)


class _RayWorker:
    """A `Worker` as a Ray Data actor: a batch of units of work in (columns of `Worker.process`'s items),
    their rows (as JSON) out."""

    def __init__(self, job: BatchJob, out: str, threads: int, device: str | None):
        import torch

        torch.set_num_threads(threads)
        self.worker = Worker(job, Path(out), device)

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        items = [{name: str(value) for name, value in zip(batch, values)} for values in zip(*batch.values())]
        rows = [self.worker.process(item) for item in items]
        return {"key": batch["key"], "rows": np.array([json.dumps(r) for r in rows])}


@contextlib.contextmanager
def ray_session(address: str | None) -> Iterator:
    """Ray for the length of a run (both its phases): `address` joined, or a local Ray started, and left
    again at the end; a Ray this process already runs is used as it is."""
    try:
        import ray
    except ImportError:
        raise GanlabError("several workers need Ray: pip install 'ray[data]' (or use --workers 1)") from None
    started = not ray.is_initialized()
    if started:
        ray.init(address=address, include_dashboard=False, log_to_driver=False, logging_level="ERROR",
                 **({} if address else {"num_cpus": os.cpu_count()}))
    try:
        yield ray
    finally:
        if started:
            ray.shutdown()


def run_on_ray(job: BatchJob, out: Path, pending: list[dict[str, str]], workers: int, batch_size: int,
               gpus_per_worker: float, address: str | None, device: str | None = None,
               threads: int | None = None) -> Iterator[tuple[str, list[dict]]]:
    """(source key, its rows) as each batch of units (`Worker.process`'s items, each with its `key`)
    finishes on the actors."""
    if not pending:
        return
    if device and device.startswith("cuda") and not gpus_per_worker:
        raise GanlabError("--device cuda on Ray needs --gpus-per-worker (each worker must hold a GPU)")
    fetch_weights(job.model)  # once, here: actors downloading the same file at once would spoil it
    with ray_session(address) as ray:
        try:
            yield from _stream(ray, job, out, pending, workers, batch_size, gpus_per_worker, device, threads)
        except ray.exceptions.RayError as err:
            cause = getattr(err, "cause", None)
            if isinstance(cause, GanlabError):
                raise GanlabError(str(cause)) from None
            raise GanlabError(f"the Ray run stopped ({type(err).__name__}: {str(err).strip().splitlines()[0]}); "
                              "every image finished so far is kept: run the same command again to go on") from None


def _stream(ray, job: BatchJob, out: Path, pending: list[dict[str, str]], workers: int, batch_size: int,
            gpus_per_worker: float, device: str | None, threads: int | None) -> Iterator[tuple[str, list[dict]]]:
    context = ray.data.DataContext.get_current()
    context.enable_progress_bars = False  # the caller draws one bar, from the records
    context.print_on_execution_start = False
    cpus = 1.0 if gpus_per_worker else CPU_SHARE
    threads = threads or max(1, (os.cpu_count() or 1) // workers)  # by default the cores, shared out
    blocks = max(workers, -(-len(pending) // batch_size))  # one task per block, one task at a time per actor:
    # the first actor ready must not take every block while the others still load their model
    dataset = ray.data.from_items(pending, override_num_blocks=blocks).map_batches(
        _RayWorker, fn_constructor_kwargs={"job": job, "out": str(out), "threads": threads, "device": device},
        batch_size=batch_size, compute=ray.data.ActorPoolStrategy(size=workers, max_tasks_in_flight_per_actor=1), num_cpus=cpus,
        num_gpus=gpus_per_worker or None, batch_format="numpy", max_restarts=RETRIES,
        max_task_retries=RETRIES)
    seen: set[str] = set()
    for batch in dataset.iter_batches(batch_size=None, batch_format="numpy"):
        for key, rows in zip(batch["key"], batch["rows"]):
            if str(key) not in seen:  # a batch Ray ran twice is committed once
                seen.add(str(key))
                yield str(key), json.loads(str(rows))


def fetch_weights(model: str) -> None:
    """Download a model's files into the cache (a model id, or a checkpoint URL) without loading it."""
    from ganlab.models.registry import Registry, fetch_files

    registry = Registry()
    fetch_files(registry.specs.get(model) or registry.add(model))
