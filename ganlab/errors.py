"""Errors a user can cause or fix. Front ends show their message as is, never a traceback."""

from __future__ import annotations


class GanlabError(Exception):
    """A failure with a message written for the person using ganlab."""


class WeightsUnavailable(GanlabError):
    """Weights for a model could not be found or fetched.

    `tried` lists every place that was looked at, so the message can say what was attempted
    and the user can supply the file by hand.
    """

    def __init__(self, model: str, tried: list[str], reason: str, hint: str):
        self.model = model
        self.tried = list(tried)
        self.reason = reason
        self.hint = hint
        lines = [f"Weights for '{model}' are not available: {reason}"]
        lines += [f"  tried: {t}" for t in self.tried]
        lines.append(f"  to fix: {hint}")
        super().__init__("\n".join(lines))


class BadCheckpoint(GanlabError):
    """A checkpoint file exists but is not in a format ganlab can read safely."""


class ShapeError(GanlabError, ValueError):
    """A tensor given at a boundary has the wrong shape for the model."""
