"""One projection step of ganlab's StyleGAN2 against NVlabs' official code, side by side.

A step is what the projector repeats: synthesis forward from `ws` (and the per-layer noise maps, which
the projector optimises too) plus the backward pass to both. Both generators hold the same random
weights (the official module's, loaded into ganlab's), run in one process and are timed in turns.

Run:
  python -m benchmarks.vs_official --official DIR            # DIR: a checkout of NVlabs/stylegan2-ada-pytorch
  python -m benchmarks.vs_official                           # ganlab alone (says what it skips)
  python -m benchmarks.vs_official --device cuda --sizes 1024 --batches 1,8 --bf16
  python -m benchmarks.vs_official --scaling                 # image-steps/s at batch 1, 4 and 8

Configs: 64 px with the FFHQ channel plan, 256 px `paper256` (the FFHQ-256 checkpoint's), 1024 px
`stylegan2` (FFHQ-1024's); conv_clamp 256 as in those checkpoints. The official generator runs in fp32
(`num_fp16_res=0`, `force_fp32`); with `--bf16` ganlab's row runs in bfloat16 autocast and the official
row uses its own fp16 layers (`num_fp16_res=4`, as the checkpoints were trained).
"""

from __future__ import annotations

import argparse
import importlib
import statistics
import sys
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import torch

from benchmarks.common import describe_machine, sync
from ganlab.models.stylegan2 import StyleGAN2Config
from ganlab.models.stylegan2_model import build_stylegan2
from ganlab.runtime import tune_allocator, tune_cuda, tune_threads

CONFIGS = {
    64: dict(channel_base=32768, channel_max=512),
    256: dict(channel_base=16384, channel_max=512),
    1024: dict(channel_base=32768, channel_max=512),
}


@dataclass
class Pair:
    """The two generators of one size, with their step functions."""

    spec: str
    official: Callable[[], torch.Tensor] | None
    ganlab: Callable[[], torch.Tensor]
    agreement: str


def ganlab_config(size: int) -> StyleGAN2Config:
    return StyleGAN2Config(img_resolution=size, conv_clamp=256, **CONFIGS[size])


def load_official(path: Path):
    """The official `training.networks` module from a checkout (its own `torch_utils`, `dnnlib`)."""
    if not (path / "training" / "networks.py").exists():
        raise SystemExit(f"--official {path}: no training/networks.py there; give a stylegan2-ada-pytorch checkout")
    sys.path.insert(0, str(path))
    _register_built_extensions()
    return importlib.import_module("training.networks")


def _register_built_extensions() -> None:
    """The official plugin loader imports a built CUDA extension by name, which recent torch no longer
    registers in `sys.modules`; register it, so that the official code can use its kernels."""
    import torch.utils.cpp_extension as ext

    load = ext.load

    def load_and_register(name, *args, **kwargs):
        module = load(name, *args, **kwargs)
        sys.modules.setdefault(name, module)
        return module

    ext.load = load_and_register


def official_generator(networks, cfg: StyleGAN2Config, fp16: bool, device: torch.device):
    """The official module for ganlab's `cfg` (random weights; `fp16`: its 4 top resolutions in fp16)."""
    synthesis = dict(channel_base=cfg.channel_base, channel_max=cfg.channel_max, num_fp16_res=4 if fp16 else 0,
                     conv_clamp=cfg.conv_clamp, resample_filter=cfg.resample_filter)
    mapping = dict(num_layers=cfg.mapping_layers, lr_multiplier=cfg.mapping_lr_multiplier)
    torch.manual_seed(cfg.img_resolution)
    net = networks.Generator(z_dim=cfg.z_dim, c_dim=cfg.c_dim, w_dim=cfg.w_dim, img_resolution=cfg.img_resolution,
                             img_channels=cfg.img_channels, mapping_kwargs=mapping, synthesis_kwargs=synthesis)
    return net.eval().requires_grad_(False).to(device)


def config_and_weights(spec: str) -> tuple[StyleGAN2Config, dict[str, torch.Tensor] | None]:
    """'64', '256', '1024': the FFHQ configs (weights None: random); '1024-thin': its layers with 8
    channels each, where a step costs almost nothing but the per-operation overhead that a GPU waits
    on at batch 1; or a bundled model's id."""
    if spec.isdigit():
        return ganlab_config(int(spec)), None
    if spec.endswith("-thin") and spec[:-5].isdigit():
        size = int(spec[:-5])
        return StyleGAN2Config(img_resolution=size, conv_clamp=256, channel_base=8 * size, channel_max=8), None
    from ganlab.models.registry import Registry, load_model

    model = load_model(Registry(), spec)
    return model.cfg, model.net.state_dict()


def official_ops_in_use(device: torch.device) -> str:
    """Whether the official code built its CUDA kernels or runs its slow reference ops."""
    if device.type != "cuda":
        return "reference ops (CPU)"
    from torch_utils.ops import bias_act, upfirdn2d
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        built = bias_act._init() and upfirdn2d._init()
    if not built and caught:
        lines = [ln for ln in str(caught[0].message).splitlines() if ln.strip()]
        print(f"# the official CUDA kernels failed to build: {lines[-1][:300] if lines else '?'}")
    return "its CUDA kernels" if built else "its reference ops (its CUDA kernels did not build)"


def make_pair(spec: str, batch: int, device: torch.device, networks, bf16: bool,
              layout: torch.memory_format | None = None, official_path: str = "projector") -> Pair:
    """Generators with identical weights, inputs and a fixed random loss direction."""
    cfg, state = config_and_weights(spec)
    off = None
    if networks is not None:
        off = official_generator(networks, cfg, fp16=False, device=device)
        if state is None:
            state = {k: v.detach().cpu() for k, v in off.state_dict().items()}
        else:
            off.load_state_dict(state)
    elif state is None:
        from ganlab.models.stylegan2 import Generator
        torch.manual_seed(cfg.img_resolution)
        state = Generator(cfg).state_dict()
    model = build_stylegan2(cfg, state, f"{spec}-config")
    model.to(device)
    model.net.synthesis.memory_format = layout
    num_ws = model.num_ws
    gen = torch.Generator().manual_seed(1)
    size = cfg.img_resolution
    ws0 = torch.randn([batch, num_ws, cfg.w_dim], generator=gen).to(device) * 0.5
    probe = torch.randn([batch, 3, size, size], generator=gen).to(device)
    noise_shapes = model.net.synthesis.noise_shapes()
    noise0 = {k: torch.randn([batch, 1, *s], generator=gen).to(device) for k, s in noise_shapes.items()}

    ws_g = ws0.clone().requires_grad_(True)
    noise_g = {k: v.clone().requires_grad_(True) for k, v in noise0.items()}

    def ganlab_step() -> torch.Tensor:
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
            img = model.net.synthesis(ws_g, noise_inputs=noise_g)
        (img.float() * probe).sum().backward()
        return img

    if off is None:
        return Pair(spec, None, ganlab_step, "official code not given: no agreement check")
    # 'projector': as the official projector runs it (eval mode: one grouped convolution per batch);
    # 'activations': its own option of scaling activations around a shared convolution.
    official_kwargs = {"fused_modconv": False} if official_path == "activations" else {}
    if bf16:
        off = official_generator(networks, cfg, fp16=True, device=device)
        off.load_state_dict(state)
        off.requires_grad_(False)
    bufs = {name.removeprefix("synthesis.").removesuffix(".noise_const"): buf
            for name, buf in off.named_buffers() if name.endswith("noise_const")}
    for buf in bufs.values():
        buf.requires_grad_(True)
    ws_o = ws0.clone().requires_grad_(True)

    def official_step() -> torch.Tensor:
        img = off.synthesis(ws_o, noise_mode="const", force_fp32=not bf16, **official_kwargs)
        (img.float() * probe).sum().backward()
        return img

    agreement = _agreement(model, off, ws0, bufs, bf16)
    return Pair(spec, official_step, ganlab_step, agreement)


def _agreement(model, off, ws0: torch.Tensor, bufs: dict[str, torch.Tensor], bf16: bool) -> str:
    """Largest difference of images and of gradients to ws, both fed the official noise buffers."""
    tf32 = torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32
    torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = False  # full fp32 for the check
    try:
        return _compare_outputs(model, off, ws0, bufs, bf16)
    finally:
        torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = tf32


def _compare_outputs(model, off, ws0: torch.Tensor, bufs: dict[str, torch.Tensor], bf16: bool) -> str:
    noise = {k: v.detach().reshape(1, 1, *v.shape) for k, v in bufs.items()}
    ws_a = ws0[:1].clone().requires_grad_(True)
    ws_b = ws0[:1].clone().requires_grad_(True)
    img_a = off.synthesis(ws_a, noise_mode="const", force_fp32=True)
    img_b = model.net.synthesis(ws_b, noise_inputs=noise)
    img_a.square().sum().backward()
    img_b.square().sum().backward()
    d_img = (img_a - img_b).abs().max().item()
    d_grad = ((ws_a.grad - ws_b.grad).abs().max() / ws_a.grad.abs().max()).item()
    for buf in bufs.values():
        buf.grad = None
    verdict = "images agree to 1e-4" if d_img < 1e-4 else "images DIFFER"
    verdict += ", gradients to 1e-3" if d_grad < 1e-3 else ", gradients DIFFER"
    note = " (fp32 check; the timed rows run reduced precision)" if bf16 else ""
    return f"max |img diff| {d_img:.1e}, grad(ws) rel. diff {d_grad:.1e}: {verdict}{note}"


def timed(step: Callable[[], torch.Tensor], device: torch.device) -> float:
    sync(device)
    t0 = time.perf_counter()
    step()
    sync(device)
    return time.perf_counter() - t0


def compare(pair: Pair, device: torch.device, repeats: int) -> tuple[float | None, float]:
    """Median seconds per step of each, measured in turns after one warm-up step each."""
    steps = [pair.ganlab] + ([pair.official] if pair.official else [])
    for step in steps:
        timed(step, device)
    times: dict[int, list[float]] = {i: [] for i in range(len(steps))}
    for _ in range(repeats):
        for i, step in enumerate(steps):
            times[i].append(timed(step, device))
    ours = statistics.median(times[0])
    theirs = statistics.median(times[1]) if pair.official else None
    return theirs, ours


def time_to_quality(networks, device: torch.device, layout: torch.memory_format | None, n: int = 8,
                    budgets: tuple[int, ...] = (0, 10, 25, 50, 100, 250)) -> None:
    """Seconds per image for ganlab's best method (encoder, then k projector steps) to reach the PSNR
    of the official projector's recipe (1000 steps in W, official settings) on held-out toy faces.

    The official projector's quality cannot be measured offline (its LPIPS weights download), so the
    reference PSNR comes from ganlab's projector with the official settings and the same distance. The
    official projector's time per image counts only its 1000 generator steps (batch 1, its own code);
    ganlab's is its batch's time over the batch.
    """
    from benchmarks.fast_inversion import final, mean_metrics
    from benchmarks.projection import run, targets
    from ganlab.invert.encoder import find_encoder
    from ganlab.invert.hybrid import hybrid_project
    from ganlab.invert.losses import lpips_distance
    from ganlab.invert.projector import ProjectionConfig
    from ganlab.models.registry import Registry, load_model

    model = load_model(Registry(), "toyfaces-64").to(device)
    model.net.synthesis.memory_format = layout
    target = targets(model, n)["held-out rendered faces"]
    distance = lpips_distance(device)
    print(f"# time-to-quality on toyfaces-64, {n} held-out rendered faces, distance: {distance.name}")
    t0 = time.perf_counter()
    ref = mean_metrics(run(model, target, "w", 1000, distance, "official"))["psnr"]
    ganlab_ref = (time.perf_counter() - t0) / n
    print(f"reference: official recipe, 1000 steps in W: PSNR {ref:.2f} dB; ganlab runs it in {ganlab_ref:.2f} s/image")
    official = None
    if networks is not None:
        theirs, _ = compare(make_pair("toyfaces-64", 1, device, networks, False, layout), device, repeats=5)
        official = 1000 * theirs
        print(f"official projector: its 1000 generator steps alone take {official:.1f} s/image here")
    encoder = find_encoder(model)
    if encoder is None:
        print("no encoder is shipped for toyfaces-64: ganlab's best method cannot run")
        return
    for steps in budgets:
        t0 = time.perf_counter()
        got = mean_metrics(final(hybrid_project(model, encoder, target, steps, ProjectionConfig(preview_every=0),
                                                distance=distance)))["psnr"]
        per_image = (time.perf_counter() - t0) / n
        print(f"encoder + {steps:>3} steps: PSNR {got:.2f} dB in {1000 * per_image:.0f} ms/image", flush=True)
        if got >= ref:
            against = f"{official / per_image:.0f}x less than the official projector's steps, " if official else ""
            print(f"time-to-quality: {1000 * per_image:.0f} ms/image (ganlab runs the {n} images as one batch; the "
                  f"official projector takes one at a time), {against}{ganlab_ref / per_image:.0f}x less than "
                  "ganlab's own run of the official recipe")
            return
    print(f"ganlab's best method did not reach {ref:.2f} dB within {budgets[-1]} steps")


def profile(step: Callable[[], torch.Tensor], device: torch.device, rows: int = 15) -> None:
    """torch.profiler's busiest operators in one step (device time on CUDA)."""
    from torch.profiler import ProfilerActivity
    from torch.profiler import profile as run_profiler

    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device.type == "cuda" else [])
    with run_profiler(activities=activities) as prof:
        step()
        sync(device)
    key = "self_cuda_time_total" if device.type == "cuda" else "self_cpu_time_total"
    print(prof.key_averages().table(sort_by=key, row_limit=rows, max_name_column_width=40))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--official", type=Path, help="checkout of NVlabs/stylegan2-ada-pytorch (not part of ganlab)")
    parser.add_argument("--sizes", default="64,256,1024",
                        help="comma-separated: 64, 256, 1024 (FFHQ configs, random weights) or a bundled model id")
    parser.add_argument("--batches", default="1,4", help="comma-separated batch sizes")
    parser.add_argument("--repeats", type=int, default=5, help="timed steps of each, in turns")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=None, help="CPU threads (default: chosen by ganlab.runtime)")
    parser.add_argument("--allocator", choices=("tuned", "default"), default="tuned",
                        help="'tuned': ganlab.runtime.tune_allocator() for the whole process, so for both")
    parser.add_argument("--bf16", action="store_true", help="ganlab in bf16 autocast, official with its fp16 layers")
    parser.add_argument("--layout", choices=("auto", "channels_last", "nchw"), default="auto",
                        help="ganlab's feature layout (auto: channels_last on the CPU, nchw on CUDA)")
    parser.add_argument("--official-path", choices=("projector", "activations"), default="projector",
                        help="the official code as its projector runs it, or with fused_modconv=False")
    parser.add_argument("--quality", action="store_true",
                        help="time-to-quality on toyfaces-64 instead (needs --official for the official step time)")
    parser.add_argument("--profile", action="store_true", help="also print where ganlab's step spends its time")
    parser.add_argument("--scaling", action="store_true", help="ganlab's image-steps/s at batch 1, 4 and 8 instead")
    args = parser.parse_args()
    device = torch.device(args.device)
    threads = tune_threads(args.threads)
    allocator = "tuned (both)" if args.allocator == "tuned" and tune_allocator() else "glibc default"
    if device.type == "cuda":
        tune_cuda()
    sizes = args.sizes.split(",")
    layout = {"auto": None, "channels_last": torch.channels_last, "nchw": torch.contiguous_format}[args.layout]
    networks = load_official(args.official) if args.official else None
    print(f"# {describe_machine(device, threads)}; allocator: {allocator}; ganlab layout: {args.layout}"
          + ("; bf16" if args.bf16 else ""))
    if networks is None:
        print("# no --official checkout given: the official rows and the agreement check are skipped")
    else:
        print(f"# official code from {args.official}, running {official_ops_in_use(device)}, "
              f"path: {args.official_path}")
    if args.quality:
        time_to_quality(networks, device, layout)
        return
    if args.scaling:
        print("| size | batch | s/step | image-steps/s |\n|---|---|---|---|")
        for size in sizes:
            for batch in (1, 4, 8):
                pair = make_pair(size, batch, device, None, args.bf16, layout)
                _, ours = compare(pair, device, args.repeats)
                print(f"| {size} | {batch} | {ours:.3f} | {batch / ours:.2f} |", flush=True)
        return
    print("| size | batch | official s/step | ganlab s/step | official / ganlab |\n|---|---|---|---|---|")
    notes = []
    for size in sizes:
        for batch in [int(b) for b in args.batches.split(",")]:
            pair = make_pair(size, batch, device, networks, args.bf16, layout, args.official_path)
            theirs, ours = compare(pair, device, args.repeats)
            ratio = f"{theirs / ours:.2f}" if theirs else "–"
            print(f"| {size} | {batch} | {theirs or float('nan'):.3f} | {ours:.3f} | {ratio} |", flush=True)
            notes.append(f"{size} px batch {batch}: {pair.agreement}")
            if args.profile:
                profile(pair.ganlab, device)
            del pair
    for note in notes:
        print(f"# {note}")


if __name__ == "__main__":
    main()
