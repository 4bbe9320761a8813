"""Running a Lab verb's `*_steps` generator to its result: the one loop behind `invert`, `interpolate` and
the verbs that take words."""

from __future__ import annotations

from typing import Any, Callable, Iterator

from ganlab.errors import GanlabError
from ganlab.invert.projector import ProjectionStep


def drive(records: Iterator, callback: Callable[[Any], Any] | None, failure: str,
          progress: type | tuple[type, ...] = ProjectionStep) -> Any:
    """The first item of `records` that is not a `progress` record; each progress record before it goes to
    `callback`. `failure`: the message when the records end without a result (a run stopped early)."""
    for rec in records:
        if not isinstance(rec, progress):
            return rec
        if callback is not None:
            callback(rec)
    raise GanlabError(failure)
