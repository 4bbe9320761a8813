"""A browser session's recovered latents: named, tied to their model, saved and loaded as `.npz`.

Each latent is stored with its model id, space and shape, so a latent can never be fed to a
model it was not made for. Files: our `.npz` (latent + metadata, and for a latent found by pivotal
tuning its tuned weights as a safetensors blob), and the official projector's layout
(`projected_w.npz` with `w` [1, num_ws, w_dim]), which we read and write too.
"""

from __future__ import annotations

import io
import json
import math
import os
import re
import secrets
import shutil
import sqlite3
import threading
import time
import uuid
import zipfile
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from PIL import Image

from ganlab.align.ffhq import AlignedFace, paste_back
from ganlab.errors import GanlabError, ShapeError
from ganlab.fileio import write_atomically
from ganlab.models.base import GanModel
from ganlab.models.torch_files import load_weights_only
from ganlab.models.tuned import MAX_TUNED_BYTES, TunedWeights, max_tuned_bytes

FORMAT_VERSION = 1


@dataclass
class PhotoOrigin:
    """The photo a latent's face was aligned from, kept so an edited face can be pasted back into it."""

    photo: Image.Image
    face: AlignedFace

    def paste_back(self, face: Image.Image | np.ndarray) -> Image.Image:
        """The photo with `face` (an edited render of the aligned face) warped back into its crop."""
        return paste_back(self.photo, face, self.face)


@dataclass
class StoredLatent:
    """One latent: `tensor` is [1, z_dim] (z), [1, w_dim] (w) or [1, num_ws, w_dim] (w+)."""

    name: str
    model_id: str
    space: str
    tensor: torch.Tensor
    c: torch.Tensor | None = None                 # class vector [1, num_classes] for conditional models
    thumbnail: np.ndarray | None = None           # uint8 HxWx3 preview of the source or the result
    metrics: dict[str, float] = field(default_factory=dict)
    source: str = ""                              # where it came from (file name, "sample seed 3", ...)
    created: float = field(default_factory=time.time)
    origin: PhotoOrigin | None = None             # set when the face came from the Align tab
    tuned: TunedWeights | None = None             # its own generator weights (pivotal tuning), used to render it

    @property
    def nbytes(self) -> int:
        """What keeping it costs a session: its tensors, thumbnail and tuned weights."""
        arrays = [self.tensor, self.c]
        total = sum(t.numel() * t.element_size() for t in arrays if t is not None)
        total += 0 if self.thumbnail is None else int(np.asarray(self.thumbnail).nbytes)
        return total + (0 if self.tuned is None else self.tuned.nbytes)


def expected_shape(model: GanModel, space: str) -> list[int]:
    """Shape of one latent of `model` in `space`, without the batch axis."""
    if space not in model.spaces:
        raise ShapeError(f"model {getattr(model, 'name', '')!r} has no '{space}' space (it offers {model.spaces})")
    if space == "z":
        return [model.z_dim]
    if space == "w":
        return [model.w_dim]
    return [model.num_ws, model.w_dim]


def validate_latent(model: GanModel, space: str, tensor: torch.Tensor) -> torch.Tensor:
    """Return `tensor` as [1, ...] for `model`/`space`, or raise a ShapeError that says what was expected."""
    want = expected_shape(model, space)
    if isinstance(tensor, np.ndarray) and tensor.dtype.kind not in "fiu":
        raise ShapeError(f"a latent holds numbers, not {tensor.dtype} values")
    shape = list(tensor.shape)  # checked before any conversion allocates: a tiny file can claim a huge tensor
    if shape not in (want, [1] + want):
        raise ShapeError(f"a '{space}' latent for this model must have shape {want} (or [1, ...]); got {shape}")
    if isinstance(tensor, torch.Tensor) and (tensor.is_complex() or not tensor.is_contiguous()
                                             or tensor.untyped_storage().nbytes() < tensor.numel() * tensor.element_size()):
        raise ShapeError("the latent tensor is not stored as plain contiguous numbers")
    t = torch.as_tensor(tensor, dtype=torch.float32)
    if list(t.shape) == want:
        t = t.unsqueeze(0)
    if list(t.shape) != [1] + want:
        raise ShapeError(f"a '{space}' latent for this model must have shape {want} (or [1, ...]); "
                         f"got {list(t.shape)}")
    if not torch.isfinite(t).all():
        raise ShapeError("the latent contains NaN or infinite values")
    return t


SESSION_BYTES = 64 << 20  # what one session's latents may hold in memory (tuned weights count)


class LatentStore:
    """The latents of one browser session; names are unique, the oldest go past `max_items` or `max_bytes`.

    With a `folder`, every change is also written there (one `.npz` per latent, written whole, and an
    SQLite index of names and files, changed in one transaction), so `LatentStore.load(folder)` brings
    the session back after a restart, a kill -9 included. The photo a face was aligned from is not kept
    on disk.
    """

    def __init__(self, max_items: int = 64, folder: Path | None = None, max_bytes: int = SESSION_BYTES):
        self.max_items = max_items
        self.max_bytes = max_bytes
        self.folder = folder
        self._items: dict[str, StoredLatent] = {}
        self._files: dict[str, str] = {}
        self._lock = threading.Lock()
        self.last_used = time.time()

    @classmethod
    def load(cls, folder: Path, max_items: int = 64, max_bytes: int = SESSION_BYTES) -> "LatentStore":
        """The store saved in `folder`; files that cannot be read are left out, not fatal (tuned weights
        are checked against their model when the latent is used)."""
        store = cls(max_items, folder, max_bytes)
        for name, file in _read_index(folder)[-max_items:]:
            try:
                if not _SAFE_FILE.match(file):
                    continue
                arrays = read_npz(folder / file, MAX_NPZ_BYTES + MAX_TUNED_BYTES)
                latent = _stored_from_arrays(arrays, _checked_meta(name, arrays["meta"]), name)
            except (GanlabError, KeyError, TypeError, ValueError, OSError):
                continue
            store._items[name], store._files[name] = latent, file
        return store

    def nbytes(self) -> int:
        """What the session's latents hold in memory, tuned weights included."""
        return sum(item.nbytes for item in self._items.values())

    def _save_index(self) -> None:
        """The index as the store is now, in one transaction: a reader (or a restart after a crash)
        sees the whole change or none of it."""
        if self.folder is None:
            return
        rows = [(i, n, self._files[n]) for i, n in enumerate(self._items) if n in self._files]
        try:
            _write_index(self.folder / INDEX_DB, rows)
        except sqlite3.DatabaseError:  # a damaged index file: this store knows the whole listing, so anew
            (self.folder / INDEX_DB).unlink(missing_ok=True)
            try:
                _write_index(self.folder / INDEX_DB, rows)
            except sqlite3.Error as err:  # e.g. a full disk
                raise GanlabError(f"this session's saved latents could not be updated ({err}); what is "
                                  "stored still works until the page is closed") from None
        (self.folder / LEGACY_INDEX).unlink(missing_ok=True)

    def _save_latent(self, latent: StoredLatent) -> None:
        if self.folder is not None:
            file = self._files.get(latent.name) or f"{uuid.uuid4().hex}.npz"
            write_atomically(self.folder / file, latent_to_npz_bytes(latent))
            self._files[latent.name] = file

    def _remove_file(self, name: str) -> None:
        file = self._files.pop(name, None)
        if self.folder is not None and file is not None:
            (self.folder / file).unlink(missing_ok=True)

    def names(self) -> list[str]:
        with self._lock:
            return list(self._items)

    def items(self) -> list[StoredLatent]:
        with self._lock:
            return list(self._items.values())

    def get(self, name: str) -> StoredLatent:
        with self._lock:
            self.last_used = time.time()
            if name not in self._items:
                raise GanlabError(f"no stored latent named '{name}'")
            return self._items[name]

    def add(self, latent: StoredLatent, model: GanModel | None = None) -> StoredLatent:
        """Store `latent` under a unique name (suffixing '-2', '-3'... on clashes); validated if `model` given.
        The oldest latents go to make room past `max_items` or `max_bytes`; one larger than `max_bytes` alone
        is refused."""
        if model is not None:
            latent.tensor = validate_latent(model, latent.space, latent.tensor)
            if latent.tuned is not None:
                latent.tuned.check(model)
        latent.tensor = latent.tensor.detach().cpu()
        if latent.nbytes > self.max_bytes:
            raise GanlabError(f"'{latent.name}' takes {latent.nbytes / 2 ** 20:.1f} MB; a session keeps at most "
                              f"{self.max_bytes / 2 ** 20:.0f} MB of latents")
        with self._lock:
            latent.name = self._unique(_clean_name(latent.name))
            self._save_latent(latent)
            self._items[latent.name] = latent
            while len(self._items) > self.max_items or self.nbytes() > self.max_bytes:
                self._remove_file(self._items.pop(next(iter(self._items))).name)
            self._save_index()
            self.last_used = time.time()
        return latent

    def rename(self, old: str, new: str) -> str:
        new = _clean_name(new)
        with self._lock:
            if old not in self._items:
                raise GanlabError(f"no stored latent named '{old}'")
            if new != old and new in self._items:
                raise GanlabError(f"a latent named '{new}' already exists")
            item = self._items.pop(old)
            item.name = new
            self._items[new] = item
            if old in self._files:
                self._files[new] = self._files.pop(old)
                self._save_latent(item)  # its file keeps the name too, for downloads of the folder
            self._save_index()
        return new

    def delete(self, name: str) -> None:
        with self._lock:
            if self._items.pop(name, None) is None:
                raise GanlabError(f"no stored latent named '{name}'")
            self._remove_file(name)
            self._save_index()

    def _unique(self, name: str) -> str:
        if name not in self._items:
            return name
        i = 2
        while f"{name}-{i}" in self._items:
            i += 1
        return f"{name}-{i}"


def _clean_name(name: str) -> str:
    name = re.sub(r"[^\w .+-]+", "_", name.strip())[:80]
    if not name:
        raise GanlabError("a latent needs a non-empty name")
    return name


def latent_to_npz_bytes(latent: StoredLatent) -> bytes:
    """Our `.npz`: the latent, its metadata as JSON, and the optional class vector and thumbnail."""
    meta = {"format": "ganlab-latent", "version": FORMAT_VERSION, "name": latent.name, "model_id": latent.model_id,
            "space": latent.space, "metrics": latent.metrics, "source": latent.source, "created": latent.created}
    arrays: dict[str, np.ndarray] = {"latent": latent.tensor.numpy().astype(np.float32),
                                     "meta": np.array(json.dumps(meta))}
    if latent.c is not None:
        arrays["c"] = latent.c.detach().cpu().numpy().astype(np.float32)
    if latent.thumbnail is not None:
        arrays["thumbnail"] = np.asarray(latent.thumbnail, dtype=np.uint8)
    if latent.tuned is not None:
        arrays["tuned"] = np.frombuffer(latent.tuned.to_bytes(), dtype=np.uint8)
    buf = io.BytesIO()
    np.savez_compressed(buf, **arrays)
    return buf.getvalue()


def projected_w_bytes(latent: StoredLatent, model: GanModel) -> bytes:
    """The official projector's `projected_w.npz`: `w` [1, num_ws, w_dim] (w latents are broadcast)."""
    if latent.space not in ("w", "w+"):
        raise GanlabError("the official projected_w.npz layout holds W/W+ latents only")
    if latent.tuned is not None:
        raise GanlabError(f"'{latent.name}' renders through its own tuned weights, which the official "
                          "projected_w.npz layout cannot hold; download ganlab's .npz instead")
    ws = validate_latent(model, latent.space, latent.tensor)
    if latent.space == "w":
        ws = ws.unsqueeze(1).repeat([1, model.num_ws, 1])
    buf = io.BytesIO()
    np.savez(buf, w=ws.numpy().astype(np.float32))
    return buf.getvalue()


def load_latent_file(path: Path | str, model: GanModel, model_id: str, name: str | None = None) -> StoredLatent:
    """Read our `.npz`, an official `projected_w.npz`, or a `.pt` holding such a tensor, for `model`.

    A file made for another model is refused; official files carry no model id, so only their shape
    is checked. Tuned weights in the file are checked against `model` (names, shapes, values, size).
    """
    path = Path(path)
    name = name or path.stem
    if path.suffix == ".pt":
        return _from_official(_read_pt(path), model, model_id, name, path.name)
    arrays = read_npz(path, MAX_NPZ_BYTES + (max_tuned_bytes(model) if model.kind == "stylegan2" else 0))
    if "meta" not in arrays:
        if "w" not in arrays:
            raise GanlabError(f"{path.name} holds neither a ganlab latent nor an official 'w' array "
                              f"(found {sorted(arrays)})")
        if arrays["w"].dtype.kind not in "fiu":
            raise GanlabError(f"{path.name}: 'w' holds {arrays['w'].dtype} values, not numbers")
        return _from_official(torch.from_numpy(arrays["w"]), model, model_id, name, path.name)
    meta = _checked_meta(path.name, arrays["meta"])
    if meta.get("model_id") != model_id:
        raise GanlabError(f"{path.name} was made for model '{meta.get('model_id')}', not '{model_id}'")
    if "latent" not in arrays:
        raise GanlabError(f"{path.name} has no 'latent' array")
    tensor = validate_latent(model, meta["space"], torch.from_numpy(arrays["latent"]))
    c = _checked_class_vector(path.name, arrays.get("c"), model)
    latent = _stored_from_arrays(arrays, meta, meta.get("name") or name, source=path.name, model=model)
    latent.tensor, latent.c = tensor, c
    return latent


def _stored_from_arrays(arrays: dict[str, np.ndarray], meta: dict, name: str, source: str = "",
                        model: GanModel | None = None) -> StoredLatent:
    """A latent from the arrays of one of our `.npz` files and its checked `meta`, as the file holds it
    (an upload then validates tensor and class vector against its model; tuned weights are checked
    against `model` here when it is given)."""
    c = arrays.get("c")
    return StoredLatent(name=name, model_id=meta["model_id"], space=meta["space"],
                        tensor=torch.from_numpy(np.asarray(arrays["latent"], dtype=np.float32)),
                        c=None if c is None else torch.from_numpy(np.asarray(c, dtype=np.float32)),
                        thumbnail=_checked_thumbnail(name, arrays.get("thumbnail")),
                        metrics=meta.get("metrics", {}), source=meta.get("source", source),
                        created=meta.get("created", time.time()), tuned=_checked_tuned(name, arrays.get("tuned"), model))


def _checked_tuned(file: str, blob: np.ndarray | None, model: GanModel | None) -> TunedWeights | None:
    if blob is None:
        return None
    if model is not None and model.kind != "stylegan2":
        raise GanlabError(f"{file} holds tuned weights, which only StyleGAN2 latents have")
    if blob.dtype != np.uint8 or blob.ndim != 1:
        raise GanlabError(f"{file}: the tuned weights must be a byte string, got {blob.dtype} {list(blob.shape)}")
    return TunedWeights.from_bytes(blob.tobytes(), model)


def _checked_meta(file: str, raw: np.ndarray) -> dict:
    """The metadata of an uploaded latent, every field of the expected type and size (else refused)."""
    try:
        meta = json.loads(str(raw))
    except ValueError:
        raise GanlabError(f"{file}: its metadata is not valid JSON") from None
    if not isinstance(meta, dict):
        raise GanlabError(f"{file}: its metadata is not a JSON object")
    texts = {"model_id": 200, "space": 4, "name": 100, "source": 300}
    for key, longest in texts.items():
        if key in meta and not (isinstance(meta[key], str) and len(meta[key]) <= longest):
            raise GanlabError(f"{file}: metadata '{key}' must be text of at most {longest} characters")
    if "space" not in meta:
        raise GanlabError(f"{file}: its metadata names no latent space")
    metrics = meta.get("metrics", {})
    if not (isinstance(metrics, dict) and len(metrics) <= 16
            and all(isinstance(k, str) and len(k) <= 40 and _finite(v) for k, v in metrics.items())):
        raise GanlabError(f"{file}: metadata 'metrics' must map up to 16 short names to finite numbers")
    if not _finite(meta.get("created", 0.0)):
        raise GanlabError(f"{file}: metadata 'created' must be a time in seconds")
    return meta


def _finite(value) -> bool:
    """A real, finite JSON number (booleans and integers too large for a float are not)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    try:
        return math.isfinite(float(value))
    except OverflowError:
        return False


def _checked_thumbnail(file: str, thumb: np.ndarray | None) -> np.ndarray | None:
    if thumb is None:
        return None
    if thumb.dtype != np.uint8 or thumb.ndim != 3 or thumb.shape[2] != 3 or not (
            1 <= thumb.shape[0] <= 1024 and 1 <= thumb.shape[1] <= 1024):
        raise GanlabError(f"{file}: the thumbnail must be uint8 [H, W, 3] of at most 1024x1024, "
                          f"got {thumb.dtype} {list(thumb.shape)}")
    return thumb


def _checked_class_vector(file: str, c: np.ndarray | None, model: GanModel) -> torch.Tensor | None:
    if c is None:
        return None
    if not getattr(model, "num_classes", 0):
        raise GanlabError(f"{file} holds a class vector, but this model has no classes")
    if c.dtype.kind != "f" or list(c.shape) != [1, model.num_classes] or not np.isfinite(c).all():
        raise GanlabError(f"{file}: the class vector must be finite floats [1, {model.num_classes}], "
                          f"got {c.dtype} {list(c.shape)}")
    return torch.from_numpy(c.astype(np.float32))


MAX_NPZ_BYTES = 16 << 20  # a latent file holds a few small arrays (a 1024 px thumbnail is the largest, 3 MB)


def read_npz(path: Path, max_bytes: int = MAX_NPZ_BYTES) -> dict[str, np.ndarray]:
    """The arrays of an `.npz`, each member's size and array header checked before anything is unpacked.

    A small deflated file can declare gigabytes; numbers, booleans and strings only (no pickles).
    """
    total = 0
    arrays: dict[str, np.ndarray] = {}
    if path.stat().st_size > max_bytes:  # before the archive's directory is even parsed
        raise GanlabError(f"{path.name} is larger than {max_bytes >> 20} MB; a latent file is far smaller")
    try:
        with zipfile.ZipFile(path) as zf:
            if len(zf.infolist()) > 16:
                raise GanlabError(f"{path.name} holds {len(zf.infolist())} arrays; a latent file has a few")
            for info in zf.infolist():
                total += info.file_size
                if total > max_bytes:
                    raise GanlabError(f"{path.name} unpacks to more than {max_bytes >> 20} MB; a latent file is "
                                      "far smaller")
                if not info.filename.endswith(".npy"):
                    raise GanlabError(f"{path.name} holds a member that is not an array ({info.filename!r})")
                with zf.open(info) as member:
                    read_header = (np.lib.format.read_array_header_1_0 if np.lib.format.read_magic(member) == (1, 0)
                                   else np.lib.format.read_array_header_2_0)
                    shape, _, dtype = read_header(member)
                    if dtype.hasobject or dtype.kind not in "biufcU":
                        raise GanlabError(f"{path.name}: array {info.filename[:-4]!r} has dtype {dtype}, "
                                          "not numbers or text")
                    if int(np.prod(shape, dtype=np.int64)) * dtype.itemsize > info.file_size:
                        raise GanlabError(f"{path.name}: array {info.filename[:-4]!r} claims shape {shape} "
                                          "but the file holds less")
                with zf.open(info) as member:
                    arrays[info.filename[:-4]] = np.lib.format.read_array(member, allow_pickle=False)
    except GanlabError:
        raise
    except Exception as err:
        raise GanlabError(f"{path.name} is not a readable .npz file ({type(err).__name__})") from None
    return arrays


def _read_pt(path: Path) -> torch.Tensor:
    if path.stat().st_size > MAX_NPZ_BYTES:
        raise GanlabError(f"{path.name} is larger than {MAX_NPZ_BYTES >> 20} MB; a latent file is far smaller")
    obj = load_weights_only(path)
    if isinstance(obj, dict):
        for key in ("w", "ws", "latent", "projected_w"):
            if key in obj:
                return torch.as_tensor(obj[key])
        raise GanlabError(f"{path.name} has no 'w' tensor (keys: {sorted(obj)})")
    if isinstance(obj, torch.Tensor):
        return obj
    raise GanlabError(f"{path.name} holds a {type(obj).__name__}, not a latent tensor")


def _from_official(w: torch.Tensor, model: GanModel, model_id: str, name: str, source: str) -> StoredLatent:
    """Official layout: `w` [1, num_ws, w_dim] (also accepted: [num_ws, w_dim], or [1, w_dim] as a w)."""
    if model.kind != "stylegan2":
        raise GanlabError("official projected_w files hold StyleGAN2 latents; pick a StyleGAN2 model")
    space = "w" if w.ndim in (1, 2) and w.shape[-1] == model.w_dim and w.numel() == model.w_dim else "w+"
    return StoredLatent(name=name, model_id=model_id, space=space, tensor=validate_latent(model, space, w),
                        source=source)


INDEX_DB = "index.sqlite"
LEGACY_INDEX = "index.json"  # what stores written before the SQLite index hold


def _write_index(path: Path, rows: list[tuple[int, str, str]]) -> None:
    """The index as `rows`, in one transaction: the table, its rows and nothing else change together."""
    with closing(sqlite3.connect(path, isolation_level=None)) as db:
        db.execute("BEGIN IMMEDIATE")
        try:
            db.execute("CREATE TABLE IF NOT EXISTS latents (position INTEGER PRIMARY KEY, name TEXT NOT NULL, "
                       "file TEXT NOT NULL)")
            db.execute("DELETE FROM latents")
            db.executemany("INSERT INTO latents VALUES (?, ?, ?)", rows)
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise


def _read_index(folder: Path) -> list[tuple[str, str]]:
    """(name, file) of a stored session's latents, oldest first. The SQLite index (opened for writing, so
    that a change a kill interrupted is rolled back), else the JSON index of older versions, else, when
    neither can be read, the latent files themselves in the order they were written."""
    if (folder / INDEX_DB).is_file():
        try:
            with closing(sqlite3.connect(folder / INDEX_DB)) as db:
                rows = [(str(n), str(f)) for n, f in db.execute("SELECT name, file FROM latents ORDER BY position")]
            if rows or not (folder / LEGACY_INDEX).is_file():  # (the JSON goes once the move committed)
                return rows
        except sqlite3.Error:
            pass
    try:
        return [(str(e["name"]), str(e["file"])) for e in json.loads((folder / LEGACY_INDEX).read_text())["items"]]
    except (OSError, ValueError, KeyError, TypeError):
        pass
    found = []
    for path in sorted((p for p in folder.glob("*.npz") if _SAFE_FILE.match(p.name)), key=lambda p: p.stat().st_mtime):
        try:
            found.append((str(json.loads(str(read_npz(path)["meta"]))["name"]), path.name))
        except (GanlabError, KeyError, TypeError, ValueError, OSError):
            continue
    return found
PERSISTENT_PREFIX = "browser-"  # session ids of browsers that keep a token: their stores are kept on disk
_TOKEN = re.compile(r"^[A-Za-z0-9_-]{32,64}$")
_SAFE_FILE = re.compile(r"^[0-9a-f]{32}\.npz$")


def persistent_id(token: str) -> str | None:
    """The session id for a browser's saved token, or None when the token is not one ganlab issued."""
    return PERSISTENT_PREFIX + token if isinstance(token, str) and _TOKEN.match(token) else None


def new_token() -> str:
    """An unguessable token for a browser to keep (it names its saved latents)."""
    return secrets.token_urlsafe(32)


class SessionRegistry:
    """Latent stores of all browser sessions, on the server: idle ones are dropped, their number capped."""

    def __init__(self, idle_seconds: float = 6 * 3600, max_sessions: int = 500, max_latents: int = 64,
                 root: Path | None = None, keep_days: float = 7.0):
        """`root`: where the stores of browser sessions (ids from `persistent_id`) are kept across
        restarts; those not used for `keep_days` are deleted. `on_expire(session_ids)`, when set, is
        called (outside the lock) with the sessions one sweep dropped for being idle or over the count."""
        self.idle_seconds, self.max_sessions, self.max_latents = idle_seconds, max_sessions, max_latents
        self.root, self.keep_days = root, keep_days
        self.on_expire: Callable[[list[str]], None] | None = None
        self._stores: dict[str, LatentStore] = {}
        self._lock = threading.Lock()
        self._swept_disk = 0.0

    def get(self, session_id: str) -> LatentStore:
        """The store of `session_id`, created (or read back from disk) on first use; also sweeps idle ones."""
        with self._lock:
            expired = self._sweep(keep=session_id)
            store = self._get(session_id)
        if expired and self.on_expire is not None:
            self.on_expire(expired)
        return store

    def _get(self, session_id: str) -> LatentStore:
        store = self._stores.get(session_id)
        if store is None:
            folder = self._folder(session_id)
            store = LatentStore.load(folder, self.max_latents) if folder is not None and folder.is_dir() \
                else LatentStore(self.max_latents, folder)
            self._stores[session_id] = store
        store.last_used = time.time()
        if store.folder is not None:
            store.folder.mkdir(parents=True, exist_ok=True)
            os.utime(store.folder)  # the disk sweep's clock
        return store

    def folder_of(self, session_id: str) -> Path | None:
        """Where a browser session's things are kept across restarts (None for sessions without a token)."""
        return self._folder(session_id)

    def _folder(self, session_id: str) -> Path | None:
        if self.root is None or not session_id.startswith(PERSISTENT_PREFIX):
            return None
        token = session_id.removeprefix(PERSISTENT_PREFIX)
        return self.root / token if _TOKEN.match(token) else None

    def _sweep_disk(self) -> None:
        now = time.time()
        if self.root is None or now - self._swept_disk < 3600 or not self.root.is_dir():
            return
        self._swept_disk = now
        for folder in self.root.iterdir():
            if folder.is_dir() and now - folder.stat().st_mtime > self.keep_days * 86400:
                shutil.rmtree(folder, ignore_errors=True)

    def drop(self, session_id: str) -> None:
        """Forget a session's latents (its page is gone)."""
        with self._lock:
            self._stores.pop(session_id, None)

    def _sweep(self, keep: str = "") -> list[str]:
        """Drop idle stores (and the oldest past the count); returns their ids."""
        self._sweep_disk()
        now = time.time()
        gone = [s for s, st in self._stores.items() if now - st.last_used > self.idle_seconds and s != keep]
        for sid in gone:
            del self._stores[sid]
        while len(self._stores) >= self.max_sessions:
            oldest = min((s for s in self._stores if s != keep), key=lambda s: self._stores[s].last_used)
            del self._stores[oldest]
            gone.append(oldest)
        return gone

    def __len__(self) -> int:
        return len(self._stores)
