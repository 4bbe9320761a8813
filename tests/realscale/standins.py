"""Stand-ins for the real checkpoints, written by the tests: random weights in the real files' layouts and
sizes, so that the real loading and running code meets files of the shape users download.

- `write_nvidia_snapshot`: an NVIDIA StyleGAN2-ADA network snapshot (`G`, `D`, `G_ema` as persistent
  objects, tensors pickled the way torch pickles them), built from a golden manifest's module tree and
  state-dict names and shapes (`../shared/golden/stylegan2_ada/manifest_*.json`).
- `write_rosinality_pt`: the same generator as a rosinality `.pt` (`g_ema` + `latent_avg`).
- `write_biggan_deep`: a BigGAN-deep release folder (`config.json` + `pytorch_model.bin`) of the real
  architecture, through `pytorch-pretrained-biggan`.
"""

from __future__ import annotations

import json
import pickle
import sys
import types
from collections import OrderedDict
from contextlib import contextmanager
from pathlib import Path

import torch
from pytorch_pretrained_biggan import BigGAN, BigGANConfig

from ganlab.models.rosinality import name_map

PLACEHOLDER_SOURCE = "# source omitted from this stand-in"
RESAMPLE_FILTER = torch.outer(torch.tensor([1.0, 3, 3, 1]), torch.tensor([1.0, 3, 3, 1])) / 64
_UNSQUEEZE_BACK = {"copy": lambda t: t, "squeeze0": lambda t: t.unsqueeze(0), "scalar": lambda t: t.reshape([1]),
                   "flatten": lambda t: t.reshape([1, t.numel(), 1, 1]), "plane": lambda t: t.reshape([1, 1, *t.shape])}


def manifest(golden_dir: Path, name: str) -> dict:
    """A golden manifest of a full-size official network (`ffhq256`, `ffhq512`, `ffhq1024`)."""
    return json.loads((golden_dir / "stylegan2_ada" / f"manifest_{name}.json").read_text())


def random_state(entries: list, seed: int) -> dict[str, torch.Tensor]:
    """Tensors of the manifest's names and shapes, filled the way the official constructor fills them
    (weights and constants random, the mapping's weights divided by its learning-rate multiplier, biases
    zero, style biases one, the blur filter exact), with small random noise strengths and mean w so every
    path counts."""
    gen = torch.Generator().manual_seed(seed)
    state = {}
    for name, shape, _dtype, _kind in entries:
        leaf = name.rsplit(".", 1)[-1]
        if leaf == "resample_filter":
            value = RESAMPLE_FILTER.clone()
        elif name.endswith("affine.bias"):
            value = torch.ones(shape)
        elif leaf == "bias":
            value = torch.zeros(shape)
        elif leaf in ("noise_strength", "w_avg"):
            value = 0.1 * torch.randn(shape, generator=gen)
        elif name.startswith("mapping.fc"):  # stored as N(0, 1) / lr_multiplier (0.01 in the mapping)
            value = 100.0 * torch.randn(shape, generator=gen)
        else:
            value = torch.randn(shape, generator=gen)
        state[name] = value
    return state


class _Persistent:
    """Pickles as the official `persistence` decorator's objects do: a call of
    `torch_utils.persistence._reconstruct_persistent_obj(meta)`."""

    def __init__(self, class_name: str, state: dict):
        self.meta = dict(type="class", version=6, module_src=PLACEHOLDER_SOURCE, class_name=class_name, state=state)

    def __reduce__(self):
        return sys.modules["torch_utils.persistence"]._reconstruct_persistent_obj, (self.meta,)


@contextmanager
def _official_names():
    """`torch_utils.persistence._reconstruct_persistent_obj` importable while pickling (pickle writes a
    function by its module and name and checks that they find it); gone afterwards."""
    package, module = types.ModuleType("torch_utils"), types.ModuleType("torch_utils.persistence")

    def _reconstruct_persistent_obj(meta):
        raise RuntimeError("a stand-in's persistent objects are only ever read by ganlab's safe loader")

    _reconstruct_persistent_obj.__module__ = module.__name__
    _reconstruct_persistent_obj.__qualname__ = _reconstruct_persistent_obj.__name__
    module._reconstruct_persistent_obj = _reconstruct_persistent_obj
    package.persistence = module
    saved = {name: sys.modules.get(name) for name in (package.__name__, module.__name__)}
    sys.modules.update({package.__name__: package, module.__name__: module})
    try:
        yield
    finally:
        for name, old in saved.items():
            if old is None:
                sys.modules.pop(name, None)
            else:
                sys.modules[name] = old


def _network(modules: list, entries: list, state: dict[str, torch.Tensor], init_kwargs: dict) -> _Persistent:
    """The persistent-object tree of one network: each module with its own parameters and buffers."""
    nodes: dict[str, dict] = {}
    for path, _cls in modules:
        nodes[path] = OrderedDict(training=False, _parameters=OrderedDict(), _buffers=OrderedDict(),
                                  _non_persistent_buffers_set=set(), _modules=OrderedDict())
    for name, _shape, _dtype, kind in entries:
        owner, leaf = name.rsplit(".", 1) if "." in name else ("", name)
        value = state[name]
        group = "_parameters" if kind == "parameter" else "_buffers"
        nodes[owner][group][leaf] = torch.nn.Parameter(value, requires_grad=False) if kind == "parameter" else value
    objects = {path: _Persistent(cls, nodes[path]) for path, cls in modules}
    for path, _cls in modules:
        if path:
            parent, leaf = path.rsplit(".", 1) if "." in path else ("", path)
            nodes[parent]["_modules"][leaf] = objects[path]
    nodes[""].update(_init_args=(), _init_kwargs=init_kwargs)
    return objects[""]


def write_nvidia_snapshot(path: Path, spec: dict, seed: int = 0) -> dict[str, torch.Tensor]:
    """A network snapshot of `spec` (a golden manifest) at `path`; returns G_ema's state dict.

    G and G_ema are separate copies of the same weights (as at the start of training), D is random:
    the file has the size of the real one."""
    g_state = random_state(spec["G_state_dict"], seed)
    d_state = random_state(spec["D_state_dict"], seed + 1)
    snapshot = OrderedDict(
        training_set_kwargs=dict(class_name="training.dataset.ImageFolderDataset", path="/data/ffhq.zip",
                                 use_labels=False, max_size=70000, xflip=True,
                                 resolution=spec["common_kwargs"]["img_resolution"]),
        G=_network(spec["G_modules"], spec["G_state_dict"], {k: v.clone() for k, v in g_state.items()},
                   spec["G_init_kwargs_as_stored_in_pickle"]),
        D=_network(spec["D_modules"], spec["D_state_dict"], d_state, spec["D_init_kwargs_as_stored_in_pickle"]),
        G_ema=_network(spec["G_modules"], spec["G_state_dict"], g_state, spec["G_init_kwargs_as_stored_in_pickle"]),
        augment_pipe=None)
    path.parent.mkdir(parents=True, exist_ok=True)
    with _official_names(), open(path, "wb") as f:
        pickle.dump(snapshot, f, protocol=4)
    return g_state


def write_rosinality_pt(path: Path, official_state: dict[str, torch.Tensor], size: int, n_mlp: int = 8) -> None:
    """The generator of `official_state` in rosinality's layout (`g_ema` + `latent_avg`), as its
    `convert_weight.py` writes it."""
    g_ema = {}
    for ros, (nv, how) in name_map(size, n_mlp).items():
        g_ema[ros] = _UNSQUEEZE_BACK[how](official_state[nv]).clone()
    kernel = RESAMPLE_FILTER * 4
    for j in range(sum(1 for k in g_ema if k.startswith("to_rgbs.") and k.endswith("conv.weight"))):
        g_ema[f"convs.{2 * j}.conv.blur.kernel"] = kernel.clone()
        g_ema[f"to_rgbs.{j}.upsample.kernel"] = kernel.clone()
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"g_ema": g_ema, "latent_avg": official_state["mapping.w_avg"].clone()}, path)


def random_biggan(config: BigGANConfig, seed: int = 0, power_iterations: int = 10) -> BigGAN:
    """A seeded random BigGAN whose every tensor matters (the package leaves some uninitialised or zero):
    batch-norm statistics and gains spread, attention on, spectral-norm vectors iterated (fresh ones give
    sigma ~ 0)."""
    torch.manual_seed(seed)
    net = BigGAN(config)
    with torch.no_grad():
        for name, tensor in net.named_buffers():
            if name.endswith("running_means"):
                tensor.normal_(0.0, 0.1)
            elif name.endswith("running_vars"):
                tensor.uniform_(0.5, 1.5)
        net.generator.bn.weight.uniform_(0.5, 1.5)
        net.generator.bn.bias.normal_(0.0, 0.1)
        for name, param in net.named_parameters():
            if name.endswith("gamma"):
                param.fill_(0.5)
        z, c = torch.zeros(1, config.z_dim), torch.eye(config.num_classes)[:1]
        for _ in range(power_iterations):  # spectral norm's power iteration runs in training mode
            net(z, c, 1.0)
    return net


def save_release(folder: Path, config: BigGANConfig, state: dict[str, torch.Tensor]) -> Path:
    """A release folder as the package reads it: `config.json` + `pytorch_model.bin`."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.json").write_text(config.to_json_string())
    torch.save(state, folder / "pytorch_model.bin")
    return folder


def write_biggan_deep(folder: Path, seed: int = 0, **config: object) -> Path:
    """A BigGAN-deep release folder; the package's default config is the real 128 px model."""
    cfg = BigGANConfig(**config)
    return save_release(folder, cfg, random_biggan(cfg, seed, power_iterations=3).state_dict())
