"""Synthesis speed: images/s of each bundled model and of the FFHQ-1024 architecture (random weights).

Run: python -m benchmarks.generate [--device cpu|cuda] [--seconds 10]
Prints one line per (model, batch) with images/s, measured after a warm-up run.
"""

from __future__ import annotations

import argparse
import platform
import time

import torch

from ganlab.models.pool import default_device
from ganlab.models.registry import Registry, load_model
from ganlab.models.sampling import class_input
from ganlab.models.stylegan2 import Generator, StyleGAN2Config
from ganlab.models.stylegan2_model import StyleGAN2Model


def ffhq1024_random() -> StyleGAN2Model:
    """The official FFHQ-1024 layout (stylegan2 config), randomly initialised: same cost as the real one."""
    torch.manual_seed(0)
    return StyleGAN2Model(Generator(StyleGAN2Config()), "ffhq-1024-architecture (random weights)")


@torch.no_grad()
def images_per_second(model, batch: int, seconds: float, device: torch.device) -> float:
    c = class_input(model, 0) if model.kind == "biggan" else None
    c = None if c is None else c.expand(batch, -1)
    z = model.sample_z(batch, seed=0)
    model.synthesize(z, c=c)
    if device.type == "cuda":
        torch.cuda.synchronize()
    runs, start = 0, time.perf_counter()
    while runs < 2 or time.perf_counter() - start < seconds:
        model.synthesize(z, c=c)
        runs += 1
        if device.type == "cuda":
            torch.cuda.synchronize()
        if time.perf_counter() - start > 4 * seconds:
            break
    return runs * batch / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--device", default=str(default_device()))
    parser.add_argument("--seconds", type=float, default=5.0, help="time per measurement")
    args = parser.parse_args()
    device = torch.device(args.device)
    where = torch.cuda.get_device_name(device) if device.type == "cuda" else \
        f"{platform.processor() or platform.machine()} CPU, {torch.get_num_threads()} threads"
    print(f"# synthesis speed on {where}, torch {torch.__version__}")
    registry = Registry()
    models = [load_model(registry, s.id) for s in registry.list() if s.bundled] + [ffhq1024_random()]
    for model in models:
        model.to(device)
        for batch in (1, 8):
            rate = images_per_second(model, batch, args.seconds, device)
            print(f"{model.name:<42} {model.resolution:>5}px  batch {batch}:  {rate:8.2f} images/s")
        model.to("cpu")


if __name__ == "__main__":
    main()
