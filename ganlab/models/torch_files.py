"""Reading user-supplied PyTorch files: tensors and plain containers only, with an error a person can act on."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Sequence

import torch

from ganlab.errors import BadCheckpoint

ZIP_MAGIC = b"PK\x03\x04"   # torch.save's default (zip) format
PICKLE_MAGIC = b"\x80"      # the legacy format starts with a pickle protocol opcode


def load_weights_only(path: Path | str, allowed: Sequence[type] = ()) -> object:
    """`torch.load(weights_only=True)` on the CPU; `allowed` adds harmless classes (e.g. argparse.Namespace).

    Files that are not PyTorch files, or that hold Python objects beyond tensors, raise BadCheckpoint;
    ganlab never falls back to unpickling arbitrary objects.
    """
    path = Path(path)
    try:
        with open(path, "rb") as f:
            head = f.read(4)
    except OSError as err:
        raise BadCheckpoint(f"cannot read {path}: {err.strerror}") from None
    if not (head.startswith(ZIP_MAGIC) or head.startswith(PICKLE_MAGIC)):
        raise BadCheckpoint(f"{path.name} is not a PyTorch file")
    try:
        with torch.serialization.safe_globals(list(allowed)):
            return torch.load(str(path), map_location="cpu", weights_only=True)
    except Exception as err:
        raise BadCheckpoint(f"{path.name} holds more than tensors, or is damaged; ganlab only reads weights and will "
                            f"not unpickle other Python objects ({_reason(err)})") from None


def _reason(err: Exception) -> str:
    """The useful part of torch's long weights-only error: the refused global, or what was unreadable."""
    text = str(err)
    found = re.search(r"GLOBAL ([\w.]+)", text)
    if found:
        return f"it references {found.group(1)}"
    found = re.search(r"Unsupported operand \d+|invalid load key[^.]*", text)
    return found.group(0) if found else type(err).__name__
