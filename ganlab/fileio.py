"""Writing a file whole or not at all: what every saved artefact (directions, walks, run configs) needs."""

from __future__ import annotations

import errno
import os
import shutil
import threading
from pathlib import Path
from typing import Callable

from ganlab.errors import GanlabError


def write_atomically(path: Path | str, data: bytes | str) -> Path:
    """Write `data` to a temporary file beside `path`, then rename it over `path`: a reader (or a crash)
    never sees half a file, and a file being rewritten from its own contents is safe until the rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")  # one per writer
    try:
        if isinstance(data, str):
            tmp.write_text(data)
        else:
            tmp.write_bytes(data)
        os.replace(tmp, path)
    except OSError as err:
        tmp.unlink(missing_ok=True)
        raise disk_full(err, path.name) from None
    return path


class DiskFull(GanlabError):
    """A write ran out of space; nothing partial of it was kept."""


def disk_full(err: OSError, what: str) -> GanlabError:
    """One plain message for a failed write of ours (which keep nothing partial): a full disk, or the
    OS's reason."""
    if err.errno == errno.ENOSPC:
        return DiskFull(f"the disk is full: {what} was not written (nothing partial was kept)")
    return GanlabError(f"{what} could not be written: {err.strerror or err}")


def write_png_atomically(path: Path | str, pixels) -> Path:
    """A uint8 [H, W, 3] picture as a PNG, written whole (see `write_atomically`)."""
    import io

    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return write_atomically(path, buffer.getvalue())


def write_folder_atomically(folder: Path | str, fill: Callable[[Path], None], what: str | None = None) -> Path:
    """Fill a temporary folder beside `folder` with `fill(tmp)`, then put it in `folder`'s place.

    A crash or a full disk leaves the previous `folder` (or none), never a mixture; an existing
    `folder` is replaced whole.
    """
    folder = Path(folder)
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = folder.with_name(f".{folder.name}.{os.getpid()}.tmp")
    old = folder.with_name(f".{folder.name}.{os.getpid()}.old")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    try:
        fill(tmp)
        if folder.exists():
            os.replace(folder, old)
        os.replace(tmp, folder)
    except BaseException as err:  # a full disk, or an interrupt: the previous folder comes back
        shutil.rmtree(tmp, ignore_errors=True)
        if old.exists() and not folder.exists():
            os.replace(old, folder)
        if isinstance(err, OSError):
            raise disk_full(err, what or folder.name) from None
        raise
    shutil.rmtree(old, ignore_errors=True)
    return folder
