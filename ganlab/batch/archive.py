"""Folders in and out of zip files, for the app: a visitor's zip of images unpacked within limits checked
before anything is written (count, declared and actual sizes, names), and a run's output packed for
download."""

from __future__ import annotations

import os
import re
import shutil
import struct
import zipfile
import zlib
from pathlib import Path, PurePosixPath

from ganlab.batch.pipeline import IMAGE_SUFFIXES
from ganlab.errors import GanlabError

MAX_IMAGES = 32
MAX_BYTES = 200 * 2 ** 20


MAX_ENTRIES = 1000   # entries of any kind: the central directory is read whole before anything else


def unpack_images(archive: Path | str, dest: Path, max_images: int = MAX_IMAGES, max_bytes: int = MAX_BYTES) -> Path:
    """The images of `archive` as files in `dest`, named by their order and base name (folders, other
    files, macOS resource forks and names with paths are not followed). Refused whole when over the
    limits; the number of entries is read from the zip's last record before the zip is opened."""
    entries = _entry_count(Path(archive))
    if entries > MAX_ENTRIES:
        raise GanlabError(f"the zip has {entries} entries; at most {MAX_ENTRIES} are read here")
    try:
        with zipfile.ZipFile(archive) as zf:
            members = [m for m in zf.infolist() if not m.is_dir() and _is_image(m.filename)]
            if not members:
                raise GanlabError(f"the zip holds no images (looked for {', '.join(sorted(IMAGE_SUFFIXES))})")
            if len(members) > max_images:
                raise GanlabError(f"the zip holds {len(members)} images; this lab takes at most {max_images} at once "
                                  "(the CLI's `batch` command has no limit)")
            declared = sum(m.file_size for m in members)
            if declared > max_bytes:
                raise GanlabError(f"the zip's images are {declared / 1e6:.0f} MB unpacked; at most "
                                  f"{max_bytes / 1e6:.0f} MB here")
            if any(m.flag_bits & 0x1 for m in members):
                raise GanlabError("the zip is encrypted; give a zip without a password")
            dest.mkdir(parents=True, exist_ok=True)
            for i, member in enumerate(members):
                name = re.sub(r"[^A-Za-z0-9_.-]+", "-", PurePosixPath(member.filename).name)[-80:]
                with zf.open(member) as source, open(dest / f"{i:03d}_{name}", "wb") as target:
                    shutil.copyfileobj(source, target)  # zipfile stops at the declared size and checks the CRC
    except (zipfile.BadZipFile, zipfile.LargeZipFile, zlib.error, OSError, EOFError, NotImplementedError) as err:
        shutil.rmtree(dest, ignore_errors=True)
        raise GanlabError(f"not a readable zip file ({type(err).__name__})") from None
    return dest


def _is_image(name: str) -> bool:
    path = PurePosixPath(name)
    return (path.suffix.lower() in IMAGE_SUFFIXES and not path.name.startswith("._")
            and "__MACOSX" not in path.parts)


def _entry_count(archive: Path) -> int:
    """The entry count in the end-of-central-directory record (a zip64 archive's own record when the
    classic one says 0xFFFF); a file without one is no zip."""
    with open(archive, "rb") as f:
        f.seek(0, 2)
        size = f.tell()
        f.seek(max(0, size - 65_557))  # the record (22 bytes) plus the longest comment
        tail = f.read()
    at = tail.rfind(b"PK\x05\x06")
    if at < 0 or len(tail) < at + 22:
        raise GanlabError("not a readable zip file (no end-of-archive record)")
    count = struct.unpack("<H", tail[at + 10:at + 12])[0]
    if count == 0xFFFF:
        locator = tail.rfind(b"PK\x06\x07", 0, at)
        record = tail.rfind(b"PK\x06\x06", 0, at)
        if locator < 0 or record < 0 or len(tail) < record + 40:
            raise GanlabError("not a readable zip file (a zip64 archive without its record)")
        count = struct.unpack("<Q", tail[record + 32:record + 40])[0]
    return count


def pack_folder(folder: Path, archive: Path) -> Path:
    """Everything under `folder` into `archive` (paths relative to `folder`), written whole then renamed."""
    partial = archive.with_name(archive.name + ".partial")
    with zipfile.ZipFile(partial, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                zf.write(path, path.relative_to(folder).as_posix())
    os.replace(partial, archive)
    return archive
