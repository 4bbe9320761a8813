"""Folders of images through a model at scale: in-process, or across workers and GPUs on Ray."""

from ganlab.batch.pipeline import BatchJob, BatchProgress, BatchSummary, run_batch

__all__ = ["BatchJob", "BatchProgress", "BatchSummary", "run_batch"]
