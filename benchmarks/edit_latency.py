"""Slider-edit latency: milliseconds from a slider value to the edited image, per layer preset.

A slider move renders one edit of a latent whose original is already on screen. `full` renders the
whole generator each time; `renderer` is `EditRenderer`, which resumes at the first block the edit
reaches. Models: the bundled `toyfaces-64` with a shipped direction, and the FFHQ-256 (`paper256`)
and FFHQ-1024 architectures with random weights and a random direction (same cost as the real ones).

Run: python -m benchmarks.edit_latency [--device cuda] [--sizes 64,256,1024] [--moves 15]
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import torch

from benchmarks.common import describe_machine, sync
from ganlab.edit import EditRenderer, render_edit
from ganlab.edit.directions import Direction
from ganlab.models.stylegan2 import Generator, StyleGAN2Config
from ganlab.models.stylegan2_model import StyleGAN2Model
from ganlab.runtime import tune_allocator, tune_threads

PRESETS = ("coarse", "middle", "fine", "all")


def model_and_direction(size: int) -> tuple[StyleGAN2Model, Direction]:
    if size == 64:  # the bundled model (the registry also reads BigGAN's package, so imported only here)
        import ganlab

        lab = ganlab.load("toyfaces-64", device="cpu")
        return lab.model, lab.directions_of("learned")[0]
    base = 16384 if size == 256 else 32768
    torch.manual_seed(size)
    net = Generator(StyleGAN2Config(img_resolution=size, channel_base=base, conv_clamp=256))
    model = StyleGAN2Model(net, f"ffhq-{size}-architecture")
    vector = np.random.default_rng(size).standard_normal(model.w_dim)
    return model, Direction("random", vector, model.name)


def median_ms(fn, moves: int, device: torch.device) -> float:
    times = []
    for i in range(moves + 1):
        sync(device)
        t0 = time.perf_counter()
        fn(0.5 + 0.25 * (i % 8))
        sync(device)
        times.append(time.perf_counter() - t0)
    return 1000 * statistics.median(times[1:])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--sizes", default="64,256,1024")
    parser.add_argument("--moves", type=int, default=15, help="slider moves timed per row")
    parser.add_argument("--threads", type=int, default=None, help="CPU threads (default: chosen by ganlab.runtime)")
    args = parser.parse_args()
    device = torch.device(args.device)
    threads = tune_threads(args.threads)
    tune_allocator()
    print(f"# {describe_machine(device, threads)}")
    print("| model | layers | full render ms | renderer ms |\n|---|---|---|---|")
    for size in [int(s) for s in args.sizes.split(",")]:
        model, direction = model_and_direction(size)
        model.to(device)
        ws = model.mapping(model.sample_z(1, seed=0))
        renderer = EditRenderer(model, ws)
        for preset in PRESETS:
            full = median_ms(lambda a: render_edit(model, ws, direction, a, preset), args.moves, device)
            fast = median_ms(lambda a: renderer.render(direction, a, preset), args.moves, device)
            print(f"| {model.name} ({size} px) | {preset} | {full:.1f} | {fast:.1f} |", flush=True)
        model.to("cpu")


if __name__ == "__main__":
    main()
