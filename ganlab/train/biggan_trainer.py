"""Training the demo BigGAN (the `pytorch_pretrained_biggan.BigGAN` class we load) on toy objects.

The recipe is BigGAN's at small scale: hinge loss, a projection discriminator, Adam with
betas (0, 0.999) and two time-scale learning rates, orthogonal init, z ~ N(0, 1), and an EMA copy
of G, which is what ships. The package's network is inference-only in one respect: its batch norm
always normalises with stored statistics. Training therefore runs it under `batch_statistics`,
and afterwards `standing_statistics` writes, for every truncation row the package interpolates
between, the statistics the trained net actually produces, so the package's own eval path (and
`load_biggan_folder`) gives the images training saw. Runs resume from `run_dir/checkpoint.pt`.
"""

from __future__ import annotations

import json
import time
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from functools import partial
from pathlib import Path
from typing import Callable, Iterator

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from pytorch_pretrained_biggan import BigGAN, BigGANConfig
from pytorch_pretrained_biggan.model import BigGANBatchNorm, SelfAttn
from scipy.stats import truncnorm
from torch import nn

from ganlab.data.toyobjects import render_objects
from ganlab.imaging import from_uint8, grid, to_uint8
from ganlab.models.biggan import Z_BOUND, BigGANModel
from ganlab.train.projection_d import ProjectionDiscriminator
from ganlab.train.runs import LabelledRenderer, TrainProgress
from ganlab.train.stylegan2_trainer import progress

StatsObserver = Callable[[BigGANBatchNorm, torch.Tensor, torch.Tensor], None]  # (layer, mean [C], var [C])

# The shipped toy-objects generator (assets/models/toyobjects-64/config.json): 64 px, 10 classes.
TOYOBJECTS_64_CONFIG = BigGANConfig(
    output_dim=64, z_dim=128, class_embed_dim=128, channel_width=16, num_classes=10,
    layers=[[False, 16, 16], [True, 16, 8], [False, 8, 8], [True, 8, 4],
            [False, 4, 4], [True, 4, 2], [False, 2, 2], [True, 2, 1]],
    attention_layer_position=6, eps=1e-4, n_stats=51)
CHECKPOINT_NAME = "checkpoint.pt"
_RUNNING = ("running_means", "running_vars")


@dataclass
class BigGANTrainConfig:
    """Everything that decides a run; saved next to its checkpoints."""

    steps: int = 20000                  # optimisation steps (one D and one G update each)
    batch: int = 32                     # images per step
    g_lr: float = 1e-4                  # BigGAN's two time-scale learning rates
    d_lr: float = 4e-4
    beta1: float = 0.0
    beta2: float = 0.999
    adam_eps: float = 1e-6              # BigGAN's launch scripts use 1e-6
    ema_decay: float = 0.999            # EMA decay of G, ramped up as min(decay, (1+step)/(10+step))
    d_ch: int = 16                      # discriminator base width
    seed: int = 0                       # seeds model init, data order and sampling
    checkpoint_every: int = 200         # steps between checkpoints
    sheet_every: int = 500              # steps between sample sheets
    sheet_cols: int = 8                 # samples per class row on a sheet
    standing_batches: int = 8           # batches per truncation row for standing statistics


def _batch_norm_forward(bn: BigGANBatchNorm, x: torch.Tensor, truncation: float,
                        condition_vector: torch.Tensor | None = None,
                        observe: StatsObserver | None = None) -> torch.Tensor:
    """BigGANBatchNorm's computation with the batch's per-channel mean and biased variance."""
    mean = x.mean(dim=(0, 2, 3))
    var = x.var(dim=(0, 2, 3), unbiased=False)
    if observe is not None:
        observe(bn, mean.detach(), var.detach())
    x = (x - mean[:, None, None]) * torch.rsqrt(var[:, None, None] + bn.eps)
    if bn.conditional:
        weight = 1 + bn.scale(condition_vector)[:, :, None, None]
        bias = bn.offset(condition_vector)[:, :, None, None]
    else:
        weight, bias = bn.weight[:, None, None], bn.bias[:, None, None]
    return x * weight + bias


@contextmanager
def batch_statistics(net: nn.Module, observe: StatsObserver | None = None) -> Iterator[nn.Module]:
    """Within the block, every BigGANBatchNorm in `net` normalises with its batch's own statistics.

    Why a swap of the instances' `forward`: the package's layer can only use stored statistics,
    and replacing modules or patching site-packages would change the state-dict keys or every
    user of the package. The swap leaves parameters, buffers and keys as they are (so what trains
    is what `load_biggan_folder` loads strictly) and is undone on exit, also after an exception.
    `observe(layer, mean, var)` sees each layer's detached batch statistics.
    """
    layers = [m for m in net.modules() if isinstance(m, BigGANBatchNorm)]
    if any("forward" in vars(bn) for bn in layers):
        raise RuntimeError("batch_statistics is already active on this network")
    for bn in layers:
        bn.forward = partial(_batch_norm_forward, bn, observe=observe)
    try:
        yield net
    finally:
        for bn in layers:
            del bn.forward


def truncated_z(n: int, z_dim: int, truncation: float, rng: np.random.RandomState) -> torch.Tensor:
    """z [n, z_dim]: standard normal truncated to [-2, 2], times `truncation` (as BigGANModel.sample_z)."""
    values = truncnorm.rvs(-Z_BOUND, Z_BOUND, size=(n, z_dim), random_state=rng).astype(np.float32)
    return torch.from_numpy(truncation * values)


def one_hot(labels: torch.Tensor, num_classes: int) -> torch.Tensor:
    """Float class vectors [N, num_classes]: BigGAN takes class mixtures, not indices."""
    return F.one_hot(labels, num_classes).float()


def standing_statistics(net: BigGAN, batch: int = 32, batches: int = 8, seed: int = 0) -> None:
    """Write standing statistics into every BigGANBatchNorm's `running_means`/`running_vars`.

    Row i is for truncation t = i / (n_stats - 1): z is truncated normal times t (zeros at t = 0),
    classes uniform, and each layer's row is the average of its per-batch means and variances, the
    quantities it normalised with in training. The net runs in eval mode so spectral norm keeps its
    vectors: the statistics must describe the weights that ship.

    The package blends rows i and i+1 with swapped weights (truncation 0.405 reads like 0.415) and,
    through float error, reads row i+1 or i-1 at t = 0.14, 0.28, 0.56, 0.58, 0.94; rows change
    smoothly with t, so either costs at most one row step (0.02 of truncation).
    """
    cfg = net.config
    layers = [m for m in net.modules() if isinstance(m, BigGANBatchNorm)]
    device = next(net.parameters()).device
    sums: dict[BigGANBatchNorm, list[torch.Tensor]] = {}

    def observe(bn: BigGANBatchNorm, mean: torch.Tensor, var: torch.Tensor) -> None:
        sums[bn][0] += mean
        sums[bn][1] += var

    was_training = net.training
    net.eval()
    try:
        with torch.no_grad(), batch_statistics(net, observe):
            for row in range(cfg.n_stats):
                sums.update({bn: [torch.zeros_like(bn.running_means[row]),
                                  torch.zeros_like(bn.running_vars[row])] for bn in layers})
                rng = np.random.RandomState(seed * 1_000_003 + row)
                for _ in range(batches):
                    z = truncated_z(batch, cfg.z_dim, row / (cfg.n_stats - 1), rng).to(device)
                    labels = torch.from_numpy(rng.randint(cfg.num_classes, size=batch)).to(device)
                    net(z, one_hot(labels, cfg.num_classes), 1.0)  # the truncation argument is unused here
                for bn in layers:
                    bn.running_means[row] = sums[bn][0] / batches
                    bn.running_vars[row] = sums[bn][1] / batches
    finally:
        net.train(was_training)


def new_generator(config: BigGANConfig, seed: int, power_iterations: int = 10) -> BigGAN:
    """A trainable BigGAN: orthogonal init, a defined final batch-norm affine, attention gain 0,
    and spectral norms whose vectors have converged (random ones give NaN in eval mode).
    """
    torch.manual_seed(seed)
    net = BigGAN(config)
    for module in net.modules():
        if isinstance(module, (nn.Conv2d, nn.Linear)):
            nn.init.orthogonal_(getattr(module, "weight_orig", module.weight))
            if module.bias is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, SelfAttn):
            nn.init.zeros_(module.gamma)
    nn.init.ones_(net.generator.bn.weight)   # the package leaves these uninitialised
    nn.init.zeros_(net.generator.bn.bias)
    net.train()
    c = one_hot(torch.arange(4) % config.num_classes, config.num_classes)
    with torch.no_grad(), batch_statistics(net):
        for _ in range(power_iterations):  # each train-mode forward is one power iteration
            net(torch.randn(4, config.z_dim), c, 1.0)
    return net


def toyobjects_renderer(size: int = 64, num_classes: int = 10) -> LabelledRenderer:
    """(n, seed) -> toy objects of the first `num_classes` classes and their labels."""

    def render(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
        images, attrs = render_objects(n, seed, size=size, classes=list(range(num_classes)))
        return images, np.array([a.cls for a in attrs], np.int64)

    return render


@dataclass
class _State:
    G: BigGAN
    G_ema: BigGAN
    D: ProjectionDiscriminator
    opt_G: torch.optim.Optimizer
    opt_D: torch.optim.Optimizer
    step: int = 0
    standing_step: int = -1  # the step G_ema's standing statistics were computed at; -1: never


def _build(gcfg: BigGANConfig, tcfg: BigGANTrainConfig, device: torch.device) -> _State:
    G = new_generator(gcfg, tcfg.seed).to(device).train()
    G_ema = BigGAN(gcfg).to(device)
    G_ema.load_state_dict(G.state_dict())
    G_ema.eval().requires_grad_(False)
    D = ProjectionDiscriminator(gcfg.output_dim, gcfg.num_classes, tcfg.d_ch).to(device).train()
    betas = (tcfg.beta1, tcfg.beta2)
    opt_G = torch.optim.Adam(G.parameters(), lr=tcfg.g_lr, betas=betas, eps=tcfg.adam_eps)
    opt_D = torch.optim.Adam(D.parameters(), lr=tcfg.d_lr, betas=betas, eps=tcfg.adam_eps)
    return _State(G, G_ema, D, opt_G, opt_D)


def _save(state: _State, run_dir: Path, gcfg: BigGANConfig, tcfg: BigGANTrainConfig,
          class_names: list[str]) -> Path:
    path = run_dir / CHECKPOINT_NAME
    tmp = path.with_suffix(".tmp")
    torch.save({"G": state.G.state_dict(), "G_ema": state.G_ema.state_dict(), "D": state.D.state_dict(),
                "opt_G": state.opt_G.state_dict(), "opt_D": state.opt_D.state_dict(),
                "step": torch.tensor(state.step), "standing_step": torch.tensor(state.standing_step)}, tmp)
    tmp.replace(path)
    meta = {"generator": gcfg.to_dict(), "training": asdict(tcfg), "class_names": class_names}
    (run_dir / "config.json").write_text(json.dumps(meta, indent=2))
    return path


def _load(state: _State, path: Path, device: torch.device) -> None:
    ckpt = torch.load(path, map_location=device, weights_only=True)
    for name in ("G", "G_ema", "D", "opt_G", "opt_D"):
        getattr(state, name).load_state_dict(ckpt[name])
    state.step, state.standing_step = int(ckpt["step"]), int(ckpt["standing_step"])


def _ema_update(G_ema: BigGAN, G: BigGAN, decay: float) -> None:
    """Average the weights; copy spectral-norm vectors; leave the running statistics alone
    (G never fills them and G_ema's are replaced by standing statistics).
    """
    with torch.no_grad():
        for p_ema, p in zip(G_ema.parameters(), G.parameters()):
            p_ema.lerp_(p, 1 - decay)
        for (name, b_ema), b in zip(G_ema.named_buffers(), G.buffers()):
            if not name.endswith(_RUNNING):
                b_ema.copy_(b)


def _sheet(G_ema: BigGAN, path: Path, cols: int, standing: bool) -> Path:
    """One row per class, one column per fixed z; through the stored statistics when `standing`."""
    cfg = G_ema.config
    device = next(G_ema.parameters()).device
    z = truncated_z(cols, cfg.z_dim, 1.0, np.random.RandomState(1234)).repeat(cfg.num_classes, 1).to(device)
    labels = torch.arange(cfg.num_classes, device=device).repeat_interleave(cols)
    with torch.no_grad():
        if standing:
            img = G_ema(z, one_hot(labels, cfg.num_classes), 1.0)
        else:
            with batch_statistics(G_ema):
                img = G_ema(z, one_hot(labels, cfg.num_classes), 1.0)
    Image.fromarray(grid(to_uint8(img), cols=cols)).save(path)
    return path


def _train_step(state: _State, tcfg: BigGANTrainConfig, real: torch.Tensor, real_labels: torch.Tensor,
                gen: torch.Generator) -> dict[str, float]:
    """One hinge-loss D update on real + fake, then one G update; G runs with batch statistics."""
    G, D, cfg = state.G, state.D, state.G.config
    device = real.device

    def fake_inputs() -> tuple[torch.Tensor, torch.Tensor]:
        z = torch.randn(tcfg.batch, cfg.z_dim, generator=gen).to(device)
        labels = torch.randint(cfg.num_classes, (tcfg.batch,), generator=gen).to(device)
        return z, labels

    with batch_statistics(G):
        z, labels = fake_inputs()
        with torch.no_grad():
            fake = G(z, one_hot(labels, cfg.num_classes), 1.0)
        D.requires_grad_(True)
        logits = D(torch.cat([real, fake]), torch.cat([real_labels, labels]))
        loss_real = F.relu(1 - logits[:tcfg.batch]).mean()
        loss_fake = F.relu(1 + logits[tcfg.batch:]).mean()
        state.opt_D.zero_grad(set_to_none=True)
        (loss_real + loss_fake).backward()
        state.opt_D.step()

        z, labels = fake_inputs()
        D.requires_grad_(False)
        loss_G = -D(G(z, one_hot(labels, cfg.num_classes), 1.0), labels).mean()
        state.opt_G.zero_grad(set_to_none=True)
        loss_G.backward()
        state.opt_G.step()
    return {"D_real": loss_real.item(), "D_fake": loss_fake.item(), "G": loss_G.item()}


def train_biggan(tcfg: BigGANTrainConfig, render: LabelledRenderer, run_dir: Path | str,
                 device: torch.device | str = "cpu", gcfg: BigGANConfig = TOYOBJECTS_64_CONFIG,
                 class_names: list[str] | None = None, resume: bool = True) -> Iterator[TrainProgress]:
    """Train a BigGAN on `render(n, seed)` batches, resuming from `run_dir/checkpoint.pt` when present.

    The last step also computes G_ema's standing statistics, so the final checkpoint and sheet
    are what `export_biggan` ships.
    """
    device = torch.device(device)
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    names = list(class_names) if class_names is not None else [f"class {i}" for i in range(gcfg.num_classes)]
    if len(names) != gcfg.num_classes:
        raise ValueError(f"{len(names)} class names for {gcfg.num_classes} classes")
    state = _build(gcfg, tcfg, device)
    if resume and (run_dir / CHECKPOINT_NAME).is_file():
        _load(state, run_dir / CHECKPOINT_NAME, device)
    start_step, started = state.step, time.perf_counter()
    while state.step < tcfg.steps:
        step = state.step
        images, labels = render(tcfg.batch, tcfg.seed * 1_000_003 + step)
        real = from_uint8(images).to(device)
        gen = torch.Generator().manual_seed(tcfg.seed * 1_000_003 + step)
        losses = _train_step(state, tcfg, real, torch.as_tensor(labels, dtype=torch.long, device=device), gen)
        _ema_update(state.G_ema, state.G, min(tcfg.ema_decay, (1 + step) / (10 + step)))

        state.step += 1
        record = progress(state.step, tcfg.steps, start_step, started, tcfg.batch, losses)
        last = state.step == tcfg.steps
        if last:
            standing_statistics(state.G_ema, tcfg.batch, tcfg.standing_batches, tcfg.seed)
            state.standing_step = state.step
        if state.step % tcfg.sheet_every == 0 or last:
            record.sheet = _sheet(state.G_ema, run_dir / f"samples_{state.step:06d}.png", tcfg.sheet_cols, last)
        if state.step % tcfg.checkpoint_every == 0 or last:
            record.checkpoint = _save(state, run_dir, gcfg, tcfg, names)
        yield record


def export_biggan(run_dir: Path | str, out_dir: Path | str, name: str) -> Path:
    """Write the run's EMA generator as a BigGAN folder (`config.json`, `model.safetensors`,
    `class_names.json`) that `load_biggan_folder` loads strictly; standing statistics are
    computed here when the checkpoint's are missing or older than its weights.
    """
    run_dir, out_dir = Path(run_dir), Path(out_dir)
    meta = json.loads((run_dir / "config.json").read_text())
    gcfg = BigGANConfig.from_dict(meta["generator"])
    tcfg = BigGANTrainConfig(**meta["training"])
    ckpt = torch.load(run_dir / CHECKPOINT_NAME, map_location="cpu", weights_only=True)
    net = BigGAN(gcfg)
    net.load_state_dict(ckpt["G_ema"])
    if int(ckpt["standing_step"]) != int(ckpt["step"]):
        standing_statistics(net, tcfg.batch, tcfg.standing_batches, tcfg.seed)
    return BigGANModel(net, name, meta["class_names"]).save(out_dir, {"steps": str(int(ckpt["step"]))})
