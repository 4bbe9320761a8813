"""Projection quality and speed on the bundled face model (and FFHQ-1024's architecture on a GPU).

For held-out rendered faces (seeds the training never used) and for samples of the generator itself
(whose true latent is known), prints PSNR / SSIM / distance (LPIPS or the stated fallback) after each
step budget, for `w` and `w+`, with the official settings and ganlab's tuned ones. Each budget is its
own run, because the official learning-rate and noise schedules depend on the total number of steps.
Then steps/s at batch 1 and 8, in fp32 and in bfloat16 autocast, and peak memory.

Run: python -m benchmarks.projection [--budgets 50,100,250,500,1000] [--n 8] [--settings official,tuned]
     [--device cpu]
"""

from __future__ import annotations

import argparse
import itertools
import platform
import resource
import time

import torch

from ganlab.data.toyfaces import render_faces
from ganlab.imaging import from_uint8
from ganlab.invert.losses import lpips_distance
from ganlab.invert.projector import SETTINGS, ProjectionConfig, ProjectionResult, project, settings_config
from ganlab.models.pool import default_device
from ganlab.models.registry import Registry, load_model
from ganlab.models.stylegan2 import Generator, StyleGAN2Config
from ganlab.models.stylegan2_model import StyleGAN2Model

HELD_OUT_SEED = 10 ** 9  # training renders seeds 0 .. steps; these never occur there


def targets(model: StyleGAN2Model, n: int, seed: int = HELD_OUT_SEED) -> dict[str, torch.Tensor]:
    faces = from_uint8(render_faces(n, seed, model.resolution)[0])
    with torch.no_grad():
        samples = model.synthesize(model.sample_z(n, seed=seed), space="z")
    return {"held-out rendered faces": faces.to(model.device), "generator samples": samples}


def run(model: StyleGAN2Model, target: torch.Tensor, space: str, steps: int, distance,
        settings: str = "official") -> ProjectionResult:
    cfg = settings_config(settings, num_steps=steps, space=space, preview_every=0, report_every=steps)
    for rec in project(model, target, cfg, distance=distance):
        if isinstance(rec, ProjectionResult):
            return rec
    raise RuntimeError("projection ended without a result")


def steps_per_second(model: StyleGAN2Model, batch: int, distance, steps: int = 20, autocast: bool = False) -> float:
    target = model.synthesize(model.sample_z(batch, seed=1), space="z").detach()
    cfg = ProjectionConfig(num_steps=steps + 2, space="w+", preview_every=0, report_every=1, w_avg_samples=1000,
                           autocast=autocast)
    times = []
    for rec in project(model, target, cfg, distance=distance):
        if model.device.type == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter())
    return steps / (times[-2] - times[1])


def peak_memory(device: torch.device) -> str:
    if device.type == "cuda":
        return f"{torch.cuda.max_memory_allocated(device) / 2 ** 20:.0f} MiB GPU"
    return f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB process RSS"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--budgets", default="50,100,250,500,1000")
    parser.add_argument("--n", type=int, default=8, help="targets of each kind")
    parser.add_argument("--settings", default=",".join(SETTINGS), help="projector settings to compare")
    parser.add_argument("--seed", type=int, default=HELD_OUT_SEED,
                        help="dataset seed of the held-out targets (another seed gives a second held-out set)")
    parser.add_argument("--device", default=str(default_device()))
    args = parser.parse_args()
    device = torch.device(args.device)
    budgets = [int(b) for b in args.budgets.split(",")]
    where = torch.cuda.get_device_name(device) if device.type == "cuda" else \
        f"{platform.machine()} CPU, {torch.get_num_threads()} torch threads"
    model = load_model(Registry(), "toyfaces-64").to(device)
    distance = lpips_distance(device)
    print(f"# projection on toyfaces-64, {where}, torch {torch.__version__}")
    print(f"# distance: {distance.name}" + (f" ({distance.why})" if distance.why else ""))
    for kind, target in targets(model, args.n, args.seed).items():
        for settings, space, steps in itertools.product(args.settings.split(","), ("w", "w+"), budgets):
            start = time.perf_counter()
            result = run(model, target, space, steps, distance, settings)
            m = result.metrics
            mean = {k: sum(x[k] for x in m) / len(m) for k in ("psnr", "ssim", "distance")}
            print(f"{kind:<24} {settings:<8} {space:<3} {steps:>5} steps: PSNR {mean['psnr']:6.2f} dB  "
                  f"SSIM {mean['ssim']:.3f}  distance {mean['distance']:.4f}  "
                  f"({time.perf_counter() - start:.0f} s for {args.n})")
    for autocast, batch in itertools.product((False, True), (1, 8)):
        rate = steps_per_second(model, batch, distance, autocast=autocast)
        print(f"toyfaces-64 w+ batch {batch}{' bf16 autocast' if autocast else ''}: {rate:.1f} steps/s "
              f"({batch * rate:.1f} image-steps/s)")
    print(f"peak memory: {peak_memory(device)}")
    if device.type == "cuda":
        torch.manual_seed(0)
        big = StyleGAN2Model(Generator(StyleGAN2Config()), "ffhq-1024-architecture").to(device)
        for autocast, batch in itertools.product((False, True), (1, 8)):
            print(f"FFHQ-1024 architecture (random weights) w+ batch {batch}{' bf16 autocast' if autocast else ''}: "
                  f"{steps_per_second(big, batch, distance, steps=10, autocast=autocast):.2f} steps/s")
        print(f"peak memory: {peak_memory(device)}")
    else:
        print("FFHQ-1024 architecture: skipped (no GPU on this machine)")


if __name__ == "__main__":
    main()
