"""BigGAN-deep (class-conditional ImageNet generator) behind the `GanModel` interface.

`pytorch_pretrained_biggan` supplies the network only. Loading happens here because the package
loads state dicts non-strictly without saying so (a wrong file would give a half-random
generator) and its downloader needs the network even when the file is cached.
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Mapping, Sequence
from functools import lru_cache
from importlib import resources
from pathlib import Path

import numpy as np
import torch
from pytorch_pretrained_biggan import BigGAN, BigGANConfig
from safetensors.torch import save_file
from scipy.stats import truncnorm

from ganlab.errors import BadCheckpoint, GanlabError, ShapeError, WeightsUnavailable
from ganlab.models.base import check_shape
from ganlab.models.torch_files import load_weights_only

RESOLUTIONS = (128, 256, 512)
CONFIG_NAME = "config.json"
BIN_NAME = "pytorch_model.bin"
SAFETENSORS_NAME = "model.safetensors"
CLASS_NAMES_FILE = "class_names.json"  # optional in a folder: names of a non-ImageNet model's classes
Z_BOUND = 2.0  # BigGAN samples z from a standard normal truncated to [-2, 2]


@lru_cache(maxsize=1)
def _imagenet_names() -> tuple[str, ...]:
    text = resources.files("ganlab.models").joinpath("data/imagenet_classes.txt").read_text(encoding="utf-8")
    return tuple(text.splitlines())


def imagenet_class_names() -> list[str]:
    """The 1000 ImageNet class names in index order (the order BigGAN's one-hot input uses)."""
    return list(_imagenet_names())


def find_class(query: str | int, names: Sequence[str] | None = None) -> int:
    """Index of a class given by index, exact name, name in any case, or a unique part of a name.

    Ambiguous and unknown queries raise `GanlabError` naming the candidates, so a user can retype.
    """
    names = list(names) if names is not None else imagenet_class_names()
    if isinstance(query, (int, np.integer)) or (isinstance(query, str) and query.strip().isdigit()):
        index = int(query)
        if not 0 <= index < len(names):
            raise GanlabError(f"class index {index} is out of range 0..{len(names) - 1}")
        return index
    text = query.strip()
    if text in names:
        return names.index(text)
    folded = [name.lower() for name in names]
    for matches in ([i for i, n in enumerate(folded) if n == text.lower()],
                    [i for i, n in enumerate(folded) if text.lower() in n]):
        if len(matches) == 1:
            return matches[0]
        if matches:
            shown = ", ".join(f"{names[i]!r} ({i})" for i in matches[:10])
            more = f" and {len(matches) - 10} more" if len(matches) > 10 else ""
            raise GanlabError(f"class {query!r} is ambiguous: it matches {shown}{more}")
    close = difflib.get_close_matches(text.lower(), folded, n=5, cutoff=0.6)
    suggestion = ("; did you mean " + ", ".join(f"{names[folded.index(c)]!r}" for c in close) + "?") if close else ""
    raise GanlabError(f"unknown class {query!r}{suggestion}")


def config_resolution(config: BigGANConfig) -> int:
    """Output size the layers produce: 4 px doubled by every up-sampling block."""
    return 4 * 2 ** sum(1 for layer in config.layers if layer[0])


class BigGANModel:
    """A BigGAN-deep generator: `img = G(z, c, truncation)` with `z` truncated-normal and `c` a class mix.

    The net stays in eval mode (spectral norm would otherwise update its vectors on every call);
    gradients are not switched off, so latents can be optimised through `synthesize`.
    """

    kind = "biggan"
    spaces = ("z",)
    folder = None  # where its helpers live (set by the loader; see ganlab.models.folder)

    def __init__(self, net: BigGAN, model_id: str, class_names: Sequence[str] | None = None):
        self.net = net.eval().requires_grad_(False)
        self.name = model_id
        self.z_dim = int(net.config.z_dim)
        self.num_classes = int(net.config.num_classes)
        self.resolution = config_resolution(net.config)
        if class_names is None:
            class_names = (imagenet_class_names() if self.num_classes == 1000
                           else [f"class {i}" for i in range(self.num_classes)])
        if len(class_names) != self.num_classes:
            raise GanlabError(f"{len(class_names)} class names given for {self.num_classes} classes")
        self.class_names = list(class_names)

    @property
    def device(self) -> torch.device:
        return next(self.net.parameters()).device

    @property
    def dtype(self) -> torch.dtype:
        return next(self.net.parameters()).dtype

    def save(self, folder: Path | str, metadata: dict[str, str] | None = None) -> Path:
        """Write a folder that `load_biggan_folder` reads strictly: config, safetensors weights, class names."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        (folder / CONFIG_NAME).write_text(json.dumps(self.net.config.to_dict(), indent=2))
        save_file({k: v.detach().cpu().contiguous() for k, v in self.net.state_dict().items()},
                  str(folder / SAFETENSORS_NAME), metadata={"name": self.name, **(metadata or {})})
        (folder / CLASS_NAMES_FILE).write_text(json.dumps(self.class_names))
        return folder

    def sample_z(self, n: int, seed: int | None = None, truncation: float = 1.0) -> torch.Tensor:
        """`z` [n, z_dim] float32: truncated normal in [-2, 2] times `truncation`.

        Same numbers as `pytorch_pretrained_biggan.truncated_noise_sample` for the same seed.
        """
        _check_truncation(truncation)
        state = np.random.RandomState(seed % 2**32) if seed is not None else None
        values = truncnorm.rvs(-Z_BOUND, Z_BOUND, size=(n, self.z_dim), random_state=state).astype(np.float32)
        return torch.from_numpy(truncation * values).to(self.device)

    def synthesize(self, latent: torch.Tensor, space: str = "z", c: torch.Tensor | None = None,
                   truncation: float = 1.0) -> torch.Tensor:
        """`img` [N, 3, resolution, resolution] in [-1, 1] from `z` [N, z_dim] and `c` [N or 1, num_classes].

        Use the truncation `z` was sampled with: batch-norm statistics are chosen by it.
        """
        if space != "z":
            raise GanlabError(f"BigGAN has only the 'z' latent space, not {space!r}")
        _check_truncation(truncation)
        check_shape("z", latent, [None, self.z_dim])
        if c is None:
            raise GanlabError("BigGAN needs a class vector c [N, num_classes]; build one with class_vector(...)")
        check_shape("c", c, [None, self.num_classes])
        n = latent.shape[0]
        if c.shape[0] not in (1, n):
            raise ShapeError(f"c has {c.shape[0]} rows for {n} latents; give one row per latent or a single row")
        z = latent.to(self.device, self.dtype)
        c = c.to(self.device, self.dtype).expand(n, -1)
        return self.net(z, c, float(truncation))

    def class_vector(self, classes: int | str | Sequence[int | str], n: int = 1) -> torch.Tensor:
        """`c` [n, num_classes]: one-hot for one class, an equal mixture for several (same in every row)."""
        items = [classes] if isinstance(classes, (int, str)) else list(classes)
        if not items or n < 1:
            raise GanlabError("class_vector needs at least one class and n >= 1")
        c = torch.zeros(n, self.num_classes)
        for item in items:
            c[:, find_class(item, self.class_names)] += 1.0 / len(items)
        return c.to(self.device)

    def mean_latent(self, space: str = "z") -> torch.Tensor:
        """The centre of z: zeros [1, z_dim]."""
        if space != "z":
            raise GanlabError(f"BigGAN has only the 'z' latent space, not {space!r}")
        return torch.zeros(1, self.z_dim, device=self.device)

    def to(self, device: torch.device | str | None = None, dtype: torch.dtype | None = None) -> "BigGANModel":
        self.net.to(device=device, dtype=dtype)
        return self


def load_biggan_files(config_path: Path, weights_path: Path, model_id: str) -> BigGANModel:
    """Build the net a BigGAN `config.json` describes and load weights into it strictly."""
    net = _build_net(_read_config(Path(config_path)), Path(config_path))
    state = _read_state_dict(Path(weights_path))
    try:
        result = net.load_state_dict(state, strict=False)
    except RuntimeError as err:  # shape mismatches are raised even when not strict
        details = "; ".join(line.strip() for line in str(err).strip().splitlines()[1:4])
        raise BadCheckpoint(f"{weights_path} does not fit {config_path}: {details}") from err
    if result.missing_keys or result.unexpected_keys:
        raise BadCheckpoint(_key_report(Path(weights_path), result.missing_keys, result.unexpected_keys))
    return BigGANModel(net, model_id)


def load_biggan_folder(folder: str | Path, model_id: str | None = None) -> BigGANModel:
    """A BigGAN from a folder with `config.json` and `model.safetensors` or `pytorch_model.bin`."""
    folder = Path(folder)
    model_id = model_id or folder.name
    config_path = folder / CONFIG_NAME
    weights = [folder / SAFETENSORS_NAME, folder / BIN_NAME]
    found = next((path for path in weights if path.is_file()), None)
    if not config_path.is_file() or found is None:
        missing = ([] if config_path.is_file() else [config_path]) + ([] if found else weights)
        raise WeightsUnavailable(model_id, [str(p) for p in missing], f"missing files in {folder}",
                                 f"put {CONFIG_NAME} and {BIN_NAME} (or {SAFETENSORS_NAME}) "
                                 f"of a BigGAN release in {folder}")
    model = load_biggan_files(config_path, found, model_id)
    names_path = folder / CLASS_NAMES_FILE
    if names_path.is_file():
        model = BigGANModel(model.net, model_id, json.loads(names_path.read_text()))
    return model


def load_biggan_deep(resolution: int) -> BigGANModel:
    """The pretrained BigGAN-deep at 128, 256 or 512 px, from the sources the model list gives for it
    (`ganlab/models/data/models.json`: the hub, then the original S3 files)."""
    from ganlab.models.registry import Registry, load_model

    if resolution not in RESOLUTIONS:
        raise GanlabError(f"BigGAN-deep exists at {', '.join(map(str, RESOLUTIONS))} px, not {resolution}")
    return load_model(Registry(), f"biggan-deep-{resolution}")


def _check_truncation(truncation: float) -> None:
    if not 0.0 < truncation <= 1.0:
        raise GanlabError(f"BigGAN truncation must be in (0, 1], got {truncation}")


def _read_config(path: Path) -> BigGANConfig:
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise BadCheckpoint(f"{path} is not a readable JSON config: {err}") from err
    if not isinstance(raw, dict):
        raise BadCheckpoint(f"{path} is not a BigGAN config (expected a JSON object)")
    known = BigGANConfig().to_dict()
    return BigGANConfig.from_dict({key: value for key, value in raw.items() if key in known})


def _build_net(config: BigGANConfig, path: Path) -> BigGAN:
    """The randomly initialised net for `config`; a config that cannot be built is a bad checkpoint."""
    layers = config.layers
    if not isinstance(layers, (list, tuple)) or not all(
            isinstance(layer, (list, tuple)) and len(layer) == 3 for layer in layers):
        raise BadCheckpoint(f"{path}: 'layers' must be a list of [up_sample, in_mult, out_mult]")
    if config_resolution(config) != config.output_dim:
        raise BadCheckpoint(f"{path}: output_dim is {config.output_dim} but its layers make "
                            f"{config_resolution(config)} px images")
    try:
        return BigGAN(config)
    except (TypeError, ValueError, ZeroDivisionError, RuntimeError) as err:
        raise BadCheckpoint(f"{path} does not describe a buildable BigGAN: {err}") from err


def _read_state_dict(path: Path) -> Mapping[str, torch.Tensor]:
    """Tensors from a safetensors or torch file; torch files are unpickled with weights_only=True."""
    state = _load_safetensors(path) if path.suffix == ".safetensors" else load_weights_only(path)
    if not isinstance(state, Mapping) or not all(torch.is_tensor(v) for v in state.values()):
        raise BadCheckpoint(f"{path} does not hold a flat state dict of tensors")
    return state


def _load_safetensors(path: Path) -> dict[str, torch.Tensor]:
    """Imported here: safetensors is only needed by those who have .safetensors files."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    try:
        return load_file(str(path), device="cpu")
    except (SafetensorError, OSError) as err:
        raise BadCheckpoint(f"{path} is not a readable safetensors file: {_first_line(err)}") from err


def _first_line(err: BaseException) -> str:
    text = str(err).strip()
    return text.splitlines()[0] if text else type(err).__name__


def _key_report(path: Path, missing: list[str], unexpected: list[str], shown: int = 10) -> str:
    def listing(keys: list[str]) -> str:
        more = f" ... and {len(keys) - shown} more" if len(keys) > shown else ""
        return ", ".join(keys[:shown]) + more

    parts = [f"{path} does not match the BigGAN its config describes"]
    if missing:
        parts.append(f"missing keys: {listing(missing)}")
    if unexpected:
        parts.append(f"unexpected keys: {listing(unexpected)}")
    return "; ".join(parts)
