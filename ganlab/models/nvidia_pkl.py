"""Read NVIDIA StyleGAN2-ADA network snapshots (.pkl) without running anything from the file.

The official loader unpickles these files, and unpickling re-executes the Python source that
`torch_utils.persistence` embeds for every network class. Here the same pickle is parsed with an
allow-list instead: each global the file may name maps to an inert stand-in (a data record, a plain
container, a tensor rebuilt from raw bytes), and any other global is refused before it is called.
"""

from __future__ import annotations

import io
import pickle
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, Callable

import torch

from ganlab.errors import BadCheckpoint


@dataclass
class NetworkRecord:
    """One network of a snapshot as data: what is needed to rebuild it, nothing that could run."""

    class_name: str
    init_kwargs: dict[str, Any]
    init_args: tuple
    state_dict: dict[str, torch.Tensor]


@dataclass
class _Persistent:
    """What `_reconstruct_persistent_obj` would have rebuilt: the class name and the object's `__dict__`."""

    class_name: str
    state: dict[str, Any]


def _refused(module: str, name: str) -> BadCheckpoint:
    return BadCheckpoint(f"refusing to load: the file references {module}.{name}, "
                         "which is not part of a StyleGAN2-ADA snapshot")


def _persistent_obj(meta: object) -> _Persistent:
    """Keep the class name and state; the embedded `module_src` is dropped unread."""
    if not isinstance(meta, dict) or meta.get("type") != "class":
        raise BadCheckpoint("a persistent object has no {type: 'class', ...} metadata")
    class_name, state = meta.get("class_name"), meta.get("state")
    if not isinstance(class_name, str) or not isinstance(state, dict):
        raise BadCheckpoint("a persistent object lacks its class name or state")
    return _Persistent(class_name, state)


# Legacy (non-zip) torch.save stream, as written by `TypedStorage.__reduce__` for `_load_from_bytes`.
_LEGACY_MAGIC = 0x1950A86A20F9469CFC6C
_LEGACY_PROTOCOL = 1001
_STORAGE_DTYPES = {
    "FloatStorage": torch.float32, "DoubleStorage": torch.float64, "HalfStorage": torch.float16,
    "BFloat16Storage": torch.bfloat16, "LongStorage": torch.int64, "IntStorage": torch.int32,
    "ShortStorage": torch.int16, "CharStorage": torch.int8, "ByteStorage": torch.uint8, "BoolStorage": torch.bool,
}


class _StorageBlobUnpickler(pickle.Unpickler):
    """The small pickles inside one storage blob: storage types are the only globals, persistent ids are noted."""

    def __init__(self, file: BinaryIO):
        super().__init__(file)
        self.declared: dict[str, tuple[torch.dtype, int]] = {}

    def find_class(self, module: str, name: str) -> torch.dtype:
        if module == "torch" and name in _STORAGE_DTYPES:
            return _STORAGE_DTYPES[name]
        raise _refused(module, name)

    def persistent_load(self, pid: object) -> str:
        if not (isinstance(pid, tuple) and len(pid) == 6 and pid[0] == "storage"):
            raise BadCheckpoint("a storage blob has an unexpected persistent id")
        _, dtype, key, _location, numel, view = pid
        if not isinstance(dtype, torch.dtype) or not isinstance(key, str) or type(numel) is not int or numel < 0:
            raise BadCheckpoint("a storage blob has a malformed storage record")
        if view is not None:
            raise BadCheckpoint("storage views (from torch < 1.0) are not supported")
        self.declared[key] = (dtype, numel)
        return key


def _read_exact(stream: BinaryIO, n: int) -> bytes:
    data = stream.read(n)
    if len(data) != n:
        raise BadCheckpoint("a storage blob ends early")
    return data


def _load_storage_blob(blob: object) -> torch.Tensor:
    """Stands in for `torch.storage._load_from_bytes`: five protocol-2 pickles, then count + raw data per storage."""
    if not isinstance(blob, bytes):
        raise BadCheckpoint("a storage blob is not bytes")
    stream = io.BytesIO(blob)
    unpickler = _StorageBlobUnpickler(stream)
    magic, version, sys_info = unpickler.load(), unpickler.load(), unpickler.load()
    if magic != _LEGACY_MAGIC or version != _LEGACY_PROTOCOL or not isinstance(sys_info, dict):
        raise BadCheckpoint("a storage blob is not a legacy torch.save stream")
    if sys_info.get("little_endian") is not True:
        raise BadCheckpoint("big-endian storage blobs are not supported")
    root, keys = unpickler.load(), unpickler.load()
    if root not in unpickler.declared or not isinstance(keys, list):
        raise BadCheckpoint("a storage blob does not hold a storage")
    storages = {}
    for key in keys:
        if key not in unpickler.declared:
            raise BadCheckpoint("a storage blob lists an undeclared storage")
        dtype, numel = unpickler.declared[key]
        (count,) = struct.unpack("<q", _read_exact(stream, 8))
        if count != numel:
            raise BadCheckpoint(f"a storage blob declares {numel} elements but stores {count}")
        data = _read_exact(stream, numel * dtype.itemsize)
        storages[key] = torch.frombuffer(bytearray(data), dtype=dtype) if numel else torch.empty(0, dtype=dtype)
    if root not in storages:
        raise BadCheckpoint("a storage blob lacks the data of its storage")
    return storages[root]


def _rebuild_tensor(storage: object, offset: object, size: object, stride: object, *flags: object) -> torch.Tensor:
    """Stands in for `torch._utils._rebuild_tensor_v2`; requires_grad, hooks and metadata are ignored."""
    if not isinstance(storage, torch.Tensor) or storage.dim() != 1 or len(flags) > 3:
        raise BadCheckpoint("a tensor record is malformed")
    if not (isinstance(size, tuple) and isinstance(stride, tuple) and len(size) == len(stride)):
        raise BadCheckpoint("a tensor record has malformed size/stride")
    numbers = (offset, *size, *stride)
    if any(type(n) is not int or n < 0 for n in numbers):
        raise BadCheckpoint("a tensor record has a non-integer or negative offset/size/stride")
    if all(size):
        last = offset + sum((n - 1) * s for n, s in zip(size, stride))
        if last >= storage.numel():
            raise BadCheckpoint("a tensor reaches past the end of its storage")
    return storage.as_strided(size, stride, offset)


def _rebuild_parameter(data: object, *flags: object) -> torch.Tensor:
    """Stands in for `torch._utils._rebuild_parameter(_with_state)`: a parameter is kept as its tensor."""
    if not isinstance(data, torch.Tensor):
        raise BadCheckpoint("a parameter record does not hold a tensor")
    return data


class _Dtype:
    """Stands in for `numpy.dtype`: the type code, plus the byte order that the pickled BUILD state sets."""

    def __init__(self, code: object, align: object = False, copy: object = True):
        self.code = code
        self.big_endian = False

    def __setstate__(self, state: object) -> None:
        self.big_endian = isinstance(state, tuple) and len(state) > 1 and state[1] == ">"


_NUMPY_FORMATS = {"f2": "e", "f4": "f", "f8": "d", "i1": "b", "i2": "h", "i4": "i", "i8": "q",
                  "u1": "B", "u2": "H", "u4": "I", "u8": "Q", "b1": "?"}


def _numpy_scalar(dtype: object, data: object) -> float | int | bool:
    """Stands in for `numpy.core.multiarray.scalar`: numeric scalars become Python numbers."""
    fmt = _NUMPY_FORMATS.get(dtype.code) if isinstance(dtype, _Dtype) and isinstance(dtype.code, str) else None
    if fmt is None or not isinstance(data, bytes) or len(data) != struct.calcsize(fmt):
        raise BadCheckpoint(f"unsupported numpy scalar of dtype {getattr(dtype, 'code', dtype)!r}")
    return struct.unpack((">" if dtype.big_endian else "<") + fmt, data)[0]


def _latin1_bytes(text: object, encoding: object) -> bytes:
    """Stands in for `_codecs.encode`, which protocol-2 pickles use to spell bytes."""
    if not isinstance(text, str) or encoding not in ("latin1", "latin-1"):
        raise BadCheckpoint("the file uses _codecs.encode for something other than bytes")
    return text.encode("latin1")


_ALLOWED: dict[tuple[str, str], Callable[..., Any]] = {
    ("torch_utils.persistence", "_reconstruct_persistent_obj"): _persistent_obj,
    ("collections", "OrderedDict"): dict,
    ("dnnlib.util", "EasyDict"): dict,
    ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
    ("torch._utils", "_rebuild_parameter_with_state"): _rebuild_parameter,
    ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor,
    ("torch.storage", "_load_from_bytes"): _load_storage_blob,
    ("numpy", "dtype"): _Dtype,
    ("numpy.core.multiarray", "scalar"): _numpy_scalar,
    ("numpy._core.multiarray", "scalar"): _numpy_scalar,
    ("builtins", "set"): set,
    ("__builtin__", "set"): set,
    ("_codecs", "encode"): _latin1_bytes,
}


class _SnapshotUnpickler(pickle.Unpickler):
    """The outer snapshot pickle: globals resolve only through `_ALLOWED`."""

    def find_class(self, module: str, name: str) -> Callable[..., Any]:
        if (module, name) not in _ALLOWED:
            raise _refused(module, name)
        return _ALLOWED[(module, name)]


def _unpickle(path: Path) -> object:
    with open(path, "rb") as file:
        head = file.read(2)
        if len(head) < 2 or head[0] != 0x80:
            kind = " (it is a zip archive, e.g. a torch.save checkpoint)" if head == b"PK" else ""
            raise BadCheckpoint(f"{path} is not a pickle file{kind}; expected an NVIDIA StyleGAN2-ADA .pkl snapshot")
        if not 2 <= head[1] <= 5:
            raise BadCheckpoint(f"{path} uses pickle protocol {head[1]}; only protocols 2-5 are read")
        file.seek(0)
        try:
            return _SnapshotUnpickler(file).load()
        except BadCheckpoint as err:
            raise BadCheckpoint(f"{path}: {err}") from None
        except (EOFError, pickle.UnpicklingError) as err:
            raise BadCheckpoint(f"{path} is truncated or corrupt ({err})") from None
        except Exception as err:
            raise BadCheckpoint(f"{path} is not a readable StyleGAN2-ADA snapshot ({type(err).__name__}: {err})") \
                from None


def _collect_tensors(root: _Persistent) -> dict[str, torch.Tensor]:
    """Official `state_dict()` order and names: own parameters, persistent buffers, then each child's, depth first."""
    out: dict[str, torch.Tensor] = {}
    seen: set[int] = set()
    stack = [(root, "")]
    while stack:
        obj, prefix = stack.pop()
        if id(obj) in seen:
            raise BadCheckpoint(f"layer '{prefix.rstrip('.')}' appears twice in the network tree")
        seen.add(id(obj))
        skip = obj.state.get("_non_persistent_buffers_set") or set()
        if not isinstance(skip, set):
            raise BadCheckpoint(f"{obj.class_name} at '{prefix}' has a malformed _non_persistent_buffers_set")
        for group in ("_parameters", "_buffers"):
            entries = obj.state.get(group) or {}
            if not isinstance(entries, dict):
                raise BadCheckpoint(f"{obj.class_name} at '{prefix}' has a malformed {group}")
            for name, value in entries.items():
                if value is None or (group == "_buffers" and name in skip):
                    continue
                if not isinstance(value, torch.Tensor):
                    raise BadCheckpoint(f"'{prefix}{name}' is a {type(value).__name__}, not a tensor")
                out[prefix + name] = value
        children = obj.state.get("_modules") or {}
        if not isinstance(children, dict):
            raise BadCheckpoint(f"{obj.class_name} at '{prefix}' has malformed submodules")
        for name, child in reversed(children.items()):
            if child is None:
                continue
            if not isinstance(child, _Persistent):
                raise BadCheckpoint(f"submodule '{prefix}{name}' is a {type(child).__name__}, not a network layer")
            stack.append((child, f"{prefix}{name}."))
    return out


def _to_record(obj: _Persistent) -> NetworkRecord:
    init_args, init_kwargs = obj.state.get("_init_args", ()), obj.state.get("_init_kwargs", {})
    if not isinstance(init_args, tuple) or not isinstance(init_kwargs, dict):
        raise BadCheckpoint(f"{obj.class_name} has malformed constructor arguments")
    return NetworkRecord(obj.class_name, init_kwargs, init_args, _collect_tensors(obj))


def read_snapshot(path: Path | str) -> dict[str, NetworkRecord | None | dict]:
    """Top-level entries of a snapshot ("G", "D", "G_ema", "augment_pipe", "training_set_kwargs");
    networks become `NetworkRecord`s, everything else stays plain data."""
    path = Path(path)
    top = _unpickle(path)
    if not isinstance(top, dict) or not all(isinstance(key, str) for key in top):
        raise BadCheckpoint(f"{path} is a pickle but not a StyleGAN2-ADA snapshot "
                            "(its top level is not a dict of names)")
    try:
        return {key: _to_record(value) if isinstance(value, _Persistent) else value for key, value in top.items()}
    except BadCheckpoint as err:
        raise BadCheckpoint(f"{path}: {err}") from None


def load_generator_record(path: Path | str, key: str = "G_ema") -> NetworkRecord:
    """The generator to use: `key` (G_ema by default, falling back to G, as a snapshot may lack the EMA copy)."""
    snapshot = read_snapshot(path)
    candidates = [key, "G"] if key == "G_ema" else [key]
    found = next((k for k in candidates if snapshot.get(k) is not None), None)
    if found is None:
        raise BadCheckpoint(f"{path} has no generator under {' or '.join(candidates)} (found {sorted(snapshot)}); "
                            "expected a StyleGAN2-ADA network snapshot")
    record = snapshot[found]
    if not isinstance(record, NetworkRecord) or record.class_name != "Generator":
        what = record.class_name if isinstance(record, NetworkRecord) else type(record).__name__
        raise BadCheckpoint(f"{path}: '{found}' is a {what}, not a StyleGAN2 Generator")
    return record
