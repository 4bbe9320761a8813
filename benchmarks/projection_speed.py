"""Wall time of a whole projection at full size: ganlab's projector against NVlabs' official projector.

Both run the official recipe (1000 steps in W from the mean of 10000 mapped samples, noise maps
optimised) on the FFHQ architecture with the same random weights and the same target. Both measure
the distance with the same network: VGG16 features read the way the official projector reads its
LPIPS model, with random weights (the real ones cannot be downloaded here; the cost is the same).
The official generator runs as the FFHQ-1024 checkpoint was trained, its 4 top resolutions in fp16;
ganlab runs fp32, and with `--bf16` also in bfloat16 autocast. On CUDA ganlab runs each step as one
replayed CUDA graph (its default) and again eagerly (`cuda_graph=False`), and prints how far apart the
two runs' latents end up.

Run: python -m benchmarks.projection_speed --official DIR --device cuda [--size 1024] [--steps 1000]
     (without --official only ganlab's row is printed)
"""

from __future__ import annotations

import argparse
import contextlib
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from benchmarks.common import describe_machine, sync
from benchmarks.vs_official import ganlab_config, load_official, official_generator, official_ops_in_use
from ganlab.invert.losses import Distance
from ganlab.invert.projector import ProjectionConfig, project, settings_config, uncaptured_distances
from ganlab.models.stylegan2 import Generator
from ganlab.models.stylegan2_model import build_stylegan2
from ganlab.runtime import tune_allocator, tune_cuda, tune_threads


class VGGFeatures(nn.Module):
    """LPIPS-style features: VGG16's five stages, unit-normalised per pixel, flattened and joined.

    Called like the official projector's `vgg16.pt`: images in [0, 255], returns [N, features].
    """

    def __init__(self) -> None:
        super().__init__()
        import torchvision

        self.body = torchvision.models.vgg16(weights=None).features.eval().requires_grad_(False)
        self.taps = {3, 8, 15, 22, 29}

    def forward(self, img: torch.Tensor, resize_images: bool = False, return_lpips: bool = True) -> torch.Tensor:
        x = (img / 127.5 - 1).float()
        if resize_images and x.shape[-1] != 224:
            x = F.interpolate(x, size=(224, 224), mode="area")
        parts = []
        for i, layer in enumerate(self.body):
            x = layer(x)
            if i in self.taps:
                unit = x / (x.square().sum(dim=1, keepdim=True) + 1e-10).sqrt()
                parts.append(unit.flatten(1) / (unit.shape[2] * unit.shape[3]) ** 0.5)
        return torch.cat(parts, dim=1)


def as_distance(vgg: VGGFeatures) -> Distance:
    """ganlab's Distance over the same features (images in [-1, 1], downsampled to 256 px by Distance)."""
    def fn(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return (vgg((a + 1) * 127.5) - vgg((b + 1) * 127.5)).square().sum(dim=1)
    return Distance("VGG16 features, random weights (timing stand-in for LPIPS)", fn)


@contextlib.contextmanager
def official_vgg_is(vgg: VGGFeatures, projector):
    """Hand the official projector our feature network instead of downloading its `vgg16.pt`."""
    open_url, jit_load = projector.dnnlib.util.open_url, torch.jit.load
    projector.dnnlib.util.open_url = lambda url, *a, **k: contextlib.nullcontext(None)
    torch.jit.load = lambda f, *a, **k: vgg
    try:
        yield
    finally:
        projector.dnnlib.util.open_url, torch.jit.load = open_url, jit_load


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--official", help="checkout of NVlabs/stylegan2-ada-pytorch (not part of ganlab)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--size", type=int, default=1024, choices=(64, 256, 1024))
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--bf16", action="store_true", help="also time ganlab in bfloat16 autocast")
    args = parser.parse_args()
    device = torch.device(args.device)
    threads = tune_threads(args.threads)
    tune_allocator()
    if device.type == "cuda":
        tune_cuda()

    networks = load_official(Path(args.official)) if args.official else None
    print(f"# {describe_machine(device, threads)}; {args.steps} steps at {args.size} px")
    cfg = ganlab_config(args.size)
    if networks is not None:
        off = official_generator(networks, cfg, fp16=args.size >= 512, device=device)
        state = {k: v.detach().cpu() for k, v in off.state_dict().items()}
    else:
        torch.manual_seed(args.size)
        state = Generator(cfg).state_dict()
    model = build_stylegan2(cfg, state, f"ffhq-{args.size}-architecture").to(device)
    vgg = VGGFeatures().to(device)
    with torch.no_grad():
        target = model.synthesize(model.sample_z(1, seed=7))

    if networks is not None:
        import projector

        where = official_ops_in_use(device)
        target_255 = ((target[0].clamp(-1, 1) + 1) * 127.5).to(device)
        with official_vgg_is(vgg, projector):
            sync(device)
            t0 = time.perf_counter()
            projector.project(off, target=target_255, num_steps=args.steps, device=device, verbose=False)
            sync(device)
        fp16 = ", top 4 resolutions in fp16" if args.size >= 512 else ""
        print(f"{'official projector' + fp16:<34} {time.perf_counter() - t0:7.1f} s  ({where})", flush=True)

    precisions = [("fp32", False)] + ([("bf16 autocast", True)] if args.bf16 else [])
    graph = device.type == "cuda"
    if graph:  # untimed: cuDNN picks its algorithms for these shapes once (tune_cuda), so no row pays for it
        for _, bf16 in precisions:
            for _ in project(model, target, ganlab_settings(2, bf16, True), distance=as_distance(vgg)):
                pass
    rows = [(f"ganlab, {name}" + (", CUDA graph" if graph else ""), bf16, True) for name, bf16 in precisions]
    rows += [(f"ganlab, {name}, eager", bf16, False) for name, bf16 in precisions if graph]
    graphed_ws = {}
    for label, bf16, cuda_graph in rows:
        sync(device)
        t0 = time.perf_counter()
        result, distance = None, as_distance(vgg)
        for rec in project(model, target, ganlab_settings(args.steps, bf16, cuda_graph), distance=distance):
            result = rec
        sync(device)
        why = uncaptured_distances().get(distance.name) if graph and cuda_graph else None
        eager = f"; ran eagerly: {why}" if why else ""
        print(f"{label:<34} {time.perf_counter() - t0:7.1f} s  (PSNR {result.metrics[0]['psnr']:.2f} dB{eager})",
              flush=True)
        if cuda_graph:
            graphed_ws[bf16] = result.ws
        else:
            gap = (result.ws - graphed_ws[bf16]).abs()
            print(f"{'  max |ws eager - ws graph|':<34} {gap.max().item():9.1e}  (mean {gap.mean().item():.1e})",
                  flush=True)


def ganlab_settings(steps: int, bf16: bool, cuda_graph: bool) -> ProjectionConfig:
    """The official recipe in W, as the official projector runs it."""
    return settings_config("official", num_steps=steps, space="w", preview_every=0, autocast=bf16,
                           cuda_graph=cuda_graph)


if __name__ == "__main__":
    main()
