"""The batch pipeline on Ray Data: the pending sources as a dataset, `map_batches` over a pool of actors
(each loads the model once, as `Worker`), and the finished sources streamed back to the driver, which
commits each to the manifest. A local Ray starts itself; `address` joins an existing cluster.

Ray's own checkpointing is not used: the manifest is the record of what is done, so a driver killed at
any point resumes from it, and a source a dead actor was working on is retried by Ray on another one.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Iterator

import numpy as np

from ganlab.batch.pipeline import BatchJob, Worker
from ganlab.errors import GanlabError

CPU_SHARE = 0.5  # CPUs reserved per CPU-only actor: whole CPUs for every actor would leave none to the
                 # dataset's own read tasks on a small machine, and the run would wait forever


class _RayWorker:
    """A `Worker` as a Ray Data actor: a batch of source paths in, their rows (as JSON) out."""

    def __init__(self, job: BatchJob, out: str, threads: int):
        import torch

        torch.set_num_threads(threads)
        self.worker = Worker(job, Path(out))

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        rows = [self.worker.process(Path(path), key) for path, key in zip(batch["path"], batch["key"])]
        return {"key": batch["key"], "rows": np.array([json.dumps(r) for r in rows])}


def run_on_ray(job: BatchJob, out: Path, pending: list[tuple[Path, str]], workers: int, batch_size: int,
               gpus_per_worker: float, address: str | None) -> Iterator[tuple[str, list[dict]]]:
    """(source key, its rows) as each batch of sources finishes on the actors."""
    try:
        import ray
    except ImportError:
        raise GanlabError("several workers need Ray: pip install 'ray[data]' (or use --workers 1)") from None
    if not pending:
        return
    if not ray.is_initialized():
        ray.init(address=address, include_dashboard=False, log_to_driver=False, logging_level="ERROR",
                 **({} if address else {"num_cpus": os.cpu_count()}))
    context = ray.data.DataContext.get_current()
    context.enable_progress_bars = False  # the caller draws one bar, from the records
    context.print_on_execution_start = False
    cpus = 1.0 if gpus_per_worker else CPU_SHARE
    threads = max(1, (os.cpu_count() or 1) // workers)
    items = [{"path": str(path), "key": key} for path, key in pending]
    blocks = max(workers, -(-len(items) // batch_size))
    dataset = ray.data.from_items(items, override_num_blocks=blocks).map_batches(
        _RayWorker, fn_constructor_kwargs={"job": job, "out": str(out), "threads": threads},
        batch_size=batch_size, compute=ray.data.ActorPoolStrategy(size=workers), num_cpus=cpus,
        num_gpus=gpus_per_worker or None, batch_format="numpy")
    for batch in dataset.iter_batches(batch_size=None, batch_format="numpy"):
        for key, rows in zip(batch["key"], batch["rows"]):
            yield str(key), json.loads(str(rows))
