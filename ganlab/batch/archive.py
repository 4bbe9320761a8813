"""Folders in and out of zip files, for the app: a visitor's zip of images unpacked within limits checked
before anything is written (count, declared and actual sizes, names), and a run's output packed for
download."""

from __future__ import annotations

import re
import zipfile
from pathlib import Path

from ganlab.batch.pipeline import IMAGE_SUFFIXES
from ganlab.errors import GanlabError

MAX_IMAGES = 32
MAX_BYTES = 200 * 2 ** 20


def unpack_images(archive: Path | str, dest: Path, max_images: int = MAX_IMAGES, max_bytes: int = MAX_BYTES) -> Path:
    """The images of `archive` as files in `dest`, named by their order and base name (folders, other
    files and names with paths are not followed). Refused whole when over the limits."""
    try:
        with zipfile.ZipFile(archive) as zf:
            members = [m for m in zf.infolist()
                       if not m.is_dir() and Path(m.filename).suffix.lower() in IMAGE_SUFFIXES]
            if not members:
                raise GanlabError(f"the zip holds no images (looked for {', '.join(sorted(IMAGE_SUFFIXES))})")
            if len(members) > max_images:
                raise GanlabError(f"the zip holds {len(members)} images; this lab takes at most {max_images} at once "
                                  "(the CLI's `batch` command has no limit)")
            declared = sum(m.file_size for m in members)
            if declared > max_bytes:
                raise GanlabError(f"the zip's images are {declared / 1e6:.0f} MB unpacked; at most "
                                  f"{max_bytes / 1e6:.0f} MB here")
            dest.mkdir(parents=True, exist_ok=True)
            for i, member in enumerate(members):
                name = re.sub(r"[^A-Za-z0-9_.-]+", "-", Path(member.filename).name)[-80:]
                with zf.open(member) as source, open(dest / f"{i:03d}_{name}", "wb") as target:
                    data = source.read(member.file_size + 1)  # never more than declared (+1 to notice a lie)
                    if len(data) > member.file_size:
                        raise GanlabError("the zip is damaged (an image is larger than the zip says)")
                    target.write(data)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError, NotImplementedError) as err:
        raise GanlabError(f"not a readable zip file ({type(err).__name__})") from None
    return dest


def pack_folder(folder: Path, archive: Path) -> Path:
    """Everything under `folder` into `archive` (paths relative to `folder`)."""
    with zipfile.ZipFile(archive, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                zf.write(path, path.relative_to(folder).as_posix())
    return archive
