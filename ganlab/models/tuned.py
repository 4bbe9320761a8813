"""Weights tuned for one latent (pivotal tuning): a compact change to a StyleGAN2 synthesis network.

The pooled generator serves every user and never changes. A latent found by pivotal tuning carries the
change its own picture needs (`TunedWeights`), and `apply` builds a private generator for it whenever it is
rendered: the tuned tensors are its own copies, every other tensor is the pooled model's, shared.

The change is kept as a half-precision difference of each tuned tensor rather than as low-rank factors.
Truncating the differences by SVD saves bytes but gives back less of the photo (benchmarks/pti.py prints
both per latent); the full difference is exact, is checked name by name against the model, and blends
linearly between latents, which the interpolation relies on. On the bundled model it is small beside a
session's quota; on the largest generators it is tens of megabytes, where factors would pay. On disk it
is a safetensors blob (names, shapes, dtype and size checked against the model before any tensor is
built), so an uploaded file can never execute anything.
"""

from __future__ import annotations

import copy
import json
import struct
from dataclasses import dataclass

import torch
from safetensors.torch import load as load_safetensors
from safetensors.torch import save as save_safetensors

from ganlab.errors import GanlabError
from ganlab.models import ops
from ganlab.models.stylegan2_model import StyleGAN2Model

FORMAT = "ganlab-tuned-weights"
VERSION = "1"
TUNED_LAYERS = ("conv0", "conv1", "torgb")   # per block: the convolutions; affine (style) layers stay shared
HEADER_SLACK = 1 << 16                       # room for the safetensors header beyond the tensors themselves
MAX_TUNED_BYTES = 96 << 20                   # any model's blob (FFHQ-1024's convolutions in fp16 are ~60 MB)


def tunable_names(model: StyleGAN2Model) -> list[str]:
    """The synthesis parameters pivotal tuning changes: each convolution's weight and bias."""
    return [name for name, _ in model.net.synthesis.named_parameters()
            if name.split(".")[-2] in TUNED_LAYERS and name.endswith((".weight", ".bias"))]


def max_tuned_bytes(model: StyleGAN2Model) -> int:
    """The largest file a tuned-weights blob of `model` can honestly be: every tunable tensor in fp16."""
    params = dict(model.net.synthesis.named_parameters())
    return sum(params[n].numel() * 2 for n in tunable_names(model)) + HEADER_SLACK


def private_copy(model: StyleGAN2Model, names: list[str]) -> StyleGAN2Model:
    """A generator whose synthesis parameters `names` are its own fp32 copies; all else is `model`'s, shared.

    Each module gets fresh converted-weight caches, so the copy never reads or fills the pooled model's.
    """
    own = {f"synthesis.{n}" for n in names}
    memo: dict[int, object] = {}
    for name, t in [*model.net.named_parameters(), *model.net.named_buffers()]:
        if name not in own:
            memo[id(t)] = t
    for module in model.net.modules():
        frozen = getattr(module, "_frozen", None)
        if isinstance(frozen, ops.FrozenWeights):
            memo[id(frozen)] = ops.FrozenWeights()
    net = copy.deepcopy(model.net, memo)
    tuned = StyleGAN2Model(net, model.name)
    tuned.folder = model.folder
    return tuned


@dataclass
class TunedWeights:
    """Per-latent changes to `model_id`'s synthesis weights: parameter name -> fp16 difference [its shape]."""

    model_id: str
    deltas: dict[str, torch.Tensor]

    @property
    def nbytes(self) -> int:
        return sum(d.numel() * d.element_size() for d in self.deltas.values())

    @classmethod
    def between(cls, model: StyleGAN2Model, tuned: StyleGAN2Model, names: list[str]) -> "TunedWeights":
        """The difference `tuned` - `model` on the parameters `names`, in half precision on the CPU."""
        base, mine = dict(model.net.synthesis.named_parameters()), dict(tuned.net.synthesis.named_parameters())
        return cls(model.name, {n: (mine[n].detach() - base[n].detach()).to("cpu", torch.float16).contiguous()
                                for n in names})

    def check(self, model: StyleGAN2Model) -> "TunedWeights":
        """Itself, once its model, names, shapes and values are known to fit `model`."""
        if self.model_id != model.name:
            raise GanlabError(f"these tuned weights were made for model '{self.model_id}', not '{model.name}'")
        _check_layout({n: (list(d.shape), d.dtype) for n, d in self.deltas.items()}, model)
        if not all(torch.isfinite(d).all() for d in self.deltas.values()):
            raise GanlabError("the tuned weights contain NaN or infinite values")
        return self

    def apply(self, model: StyleGAN2Model) -> StyleGAN2Model:
        """A private generator: `model` with these differences added (the pooled `model` is not touched)."""
        self.check(model)
        tuned = private_copy(model, list(self.deltas))
        params = dict(tuned.net.synthesis.named_parameters())
        with torch.no_grad():
            for name, delta in self.deltas.items():
                params[name].add_(delta.to(params[name].device, torch.float32))
        return tuned

    def to_bytes(self) -> bytes:
        """A safetensors blob: the differences and, in its metadata, the format and the model id."""
        return save_safetensors(dict(self.deltas), metadata={"format": FORMAT, "version": VERSION,
                                                             "model_id": self.model_id})

    @classmethod
    def from_bytes(cls, data: bytes, model: StyleGAN2Model | None = None) -> "TunedWeights":
        """Read a blob of `to_bytes`, refusing anything else before building a tensor. With `model`, the
        blob must fit it (a session's own files, read back without their model, are checked when used)."""
        limit = MAX_TUNED_BYTES if model is None else max_tuned_bytes(model)
        if len(data) > limit:
            raise GanlabError(f"the tuned weights take {len(data)} bytes; at most {limit} are expected"
                              + ("" if model is None else f" for '{model.name}'"))
        header = _header(data)
        meta = header.pop("__metadata__", None)
        if not isinstance(meta, dict) or meta.get("format") != FORMAT or not isinstance(meta.get("model_id"), str):
            raise GanlabError("the tuned weights are not a ganlab tuned-weights file")
        if model is not None and meta["model_id"] != model.name:
            raise GanlabError(f"these tuned weights were made for model '{meta['model_id'][:200]}', not '{model.name}'")
        layout = {}
        for name, entry in header.items():
            if not (isinstance(entry, dict) and isinstance(entry.get("shape"), list)
                    and all(isinstance(d, int) and d >= 0 for d in entry["shape"])):
                raise GanlabError(f"the tuned weights describe {name[:80]!r} badly")
            layout[name] = (entry["shape"], torch.float16 if entry.get("dtype") == "F16" else entry.get("dtype"))
        if model is not None:
            _check_layout(layout, model)
        elif any(dtype != torch.float16 for _, dtype in layout.values()):
            raise GanlabError("the tuned weights are not all half precision")
        try:
            deltas = load_safetensors(data)
        except Exception as err:  # a header that lies about offsets, a truncated file
            raise GanlabError(f"the tuned weights cannot be read ({type(err).__name__})") from None
        weights = cls(meta["model_id"], deltas)
        return weights if model is None else weights.check(model)

    @staticmethod
    def blend(a: "TunedWeights | None", b: "TunedWeights | None", t: float) -> "TunedWeights | None":
        """(1 - t) a + t b, a latent without tuning counting as no change; None when neither is tuned."""
        if a is None and b is None:
            return None
        first, second = a or TunedWeights(b.model_id, {}), b or TunedWeights(a.model_id, {})
        if first.model_id != second.model_id:
            raise GanlabError(f"tuned weights of '{first.model_id}' and '{second.model_id}' cannot be blended")
        out = {}
        for name in dict.fromkeys([*first.deltas, *second.deltas]):
            da, db = first.deltas.get(name), second.deltas.get(name)
            da = torch.zeros_like(db) if da is None else da
            db = torch.zeros_like(da) if db is None else db
            out[name] = torch.lerp(da.float(), db.float(), t).half()
        return TunedWeights(first.model_id, out)


def through(model: StyleGAN2Model, tuned: TunedWeights | None) -> StyleGAN2Model:
    """The generator a latent renders with: `model` itself, or its private copy with `tuned` applied."""
    return model if tuned is None else tuned.apply(model)


def _check_layout(layout: dict[str, tuple[list, object]], model: StyleGAN2Model) -> None:
    """Every name one of `model`'s tunable parameters, with its shape, in fp16."""
    params = dict(model.net.synthesis.named_parameters())
    allowed = set(tunable_names(model))
    for name, (shape, dtype) in layout.items():
        if name not in allowed:
            raise GanlabError(f"the tuned weights name {name[:80]!r}, which is not a tunable layer of '{model.name}'")
        if list(shape) != list(params[name].shape):
            raise GanlabError(f"the tuned weights give {name} the shape {list(shape)[:8]}, but '{model.name}' has "
                              f"{list(params[name].shape)}")
        if dtype != torch.float16:
            raise GanlabError(f"the tuned weights hold {name} as {dtype}, not half precision")


def _header(data: bytes) -> dict:
    """The JSON header of a safetensors blob, read without building any tensor."""
    if len(data) < 8:
        raise GanlabError("the tuned weights are empty or truncated")
    (length,) = struct.unpack("<Q", data[:8])
    if length > len(data) - 8:
        raise GanlabError("the tuned weights are truncated")
    try:
        header = json.loads(data[8:8 + length])
    except ValueError:
        raise GanlabError("the tuned weights' header is not valid JSON") from None
    if not isinstance(header, dict):
        raise GanlabError("the tuned weights' header is not a JSON object")
    return header
