"""Writing a file whole or not at all: what every saved artefact (directions, walks, run configs) needs."""

from __future__ import annotations

import os
from pathlib import Path


def write_atomically(path: Path | str, data: bytes | str) -> Path:
    """Write `data` to a temporary file beside `path`, then rename it over `path`: a reader (or a crash)
    never sees half a file, and a file being rewritten from its own contents is safe until the rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    if isinstance(data, str):
        tmp.write_text(data)
    else:
        tmp.write_bytes(data)
    os.replace(tmp, path)
    return path
