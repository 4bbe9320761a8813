"""Learned walks and BigGAN inversion on toyobjects-64, measured without a judge network.

For every walk: sample images G(z, c), move along the walk by each requested magnitude, and measure
the object's centre and size (`ganlab.augment.measure`) before and after. A slide's achieved shift is
in fractions of the width along its direction, a zoom's achieved factor is sqrt(area ratio), and
brightness is the change of the mean intensity (0..1 units). The same yardstick applied to the pixel
edit of the same images ("pixel" column), and first to pixel edits of rendered objects ("yardstick"),
shows how far the measurement itself can be trusted. Pairs where the object is not found or touches
the frame (so is partly cut off) are left out; n says how many remain.
Targets: slides within 15% of the request over +-25% of the width, zoom within 15% over 0.6x-1.6x.
Then inversion PSNR of held-out rendered objects (auto class).

Run from the repository root: python -m benchmarks.augment [--walks PATH] [--samples 24] [--invert 6]
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from pathlib import Path

import numpy as np
import torch

from ganlab.augment.measure import edit_effect, measure, usable
from ganlab.augment.transforms import SLIDES, edit
from ganlab.augment.walks import WalkSet, default_walks_path, load_walks
from ganlab.data.toyobjects import render_objects
from ganlab.imaging import from_uint8
from ganlab.invert.biggan import InversionConfig, InversionResult, invert
from ganlab.invert.losses import lpips_distance
from ganlab.models.biggan import BigGANModel
from ganlab.models.pool import default_device
from ganlab.models.registry import Registry, load_model

MODEL = "toyobjects-64"
MAGNITUDES = {"zoom": [0.6, 0.8, 1.25, 1.6], "brightness": [-0.2, -0.1, 0.1, 0.2],
              **{name: [-0.25, -0.125, 0.125, 0.25] for name in SLIDES}}
TARGET = {"zoom": 0.15, **{name: 0.15 for name in SLIDES}}
HELD_OUT_SEED = 987_654_321          # training renders seeds 0..steps, so this dataset is unseen


def machine(device: torch.device) -> str:
    name = platform.processor() or platform.machine()
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        name = next((line.split(":", 1)[1].strip() for line in cpuinfo.read_text().splitlines()
                     if line.startswith("model name")), name)
    gpu = f", {torch.cuda.get_device_name(device)}" if device.type == "cuda" else ""
    threads = torch.get_num_threads()
    return f"{name}, {os.cpu_count()} logical CPUs, torch {torch.__version__} ({threads} threads){gpu}"


def relative_error(name: str, value: float, requested: float) -> float:
    return abs(value / requested - 1) if name == "zoom" else abs(value - requested) / abs(requested)


@torch.no_grad()
def evaluate_walk(model: BigGANModel, walks: WalkSet, name: str, z: torch.Tensor, c: torch.Tensor) -> dict:
    base = model.synthesize(z, c=c).clamp(-1, 1)
    before = measure(base)
    rows = []
    for m in MAGNITUDES[name]:
        moved, _ = walks.shifted(z, name, m, c)
        out = model.synthesize(moved, c=c).clamp(-1, 1)
        if name == "brightness":
            walk = ((out.mean((1, 2, 3)) - base.mean((1, 2, 3))) / 2).tolist()
            pixel = ((edit(base, name, m).img.mean((1, 2, 3)) - base.mean((1, 2, 3))) / 2).tolist()
        else:
            after, reference = measure(out), measure(edit(base, name, m).img)
            walk = [edit_effect(name, b, a, model.resolution) for b, a in zip(before, after) if usable(b, a)]
            pixel = [edit_effect(name, b, a, model.resolution) for b, a in zip(before, reference) if usable(b, a)]
        errors = [relative_error(name, v, m) for v in walk]
        rows.append({"requested": m, "n": len(walk), "walk": np.median(walk) if walk else float("nan"),
                     "pixel": np.median(pixel) if pixel else float("nan"),
                     "error": np.median(errors) if errors else float("nan")})
    return {"rows": rows, "found": sum(b.found and not b.clipped for b in before), "samples": len(before)}


def report_walk(name: str, result: dict) -> None:
    if name == "brightness":
        print(f"\n{name} (change of mean intensity over the whole image)")
    else:
        unit = "factor" if name == "zoom" else "fraction of width"
        print(f"\n{name} ({unit}); object found whole in {result['found']}/{result['samples']} base images")
    print(f"  {'requested':>9}  {'walk (median)':>13}  {'pixel edit':>10}  {'median rel. error':>17}  {'n':>3}")
    for r in result["rows"]:
        print(f"  {r['requested']:>9.3f}  {r['walk']:>13.3f}  {r['pixel']:>10.3f}  {r['error']:>17.1%}  {r['n']:>3}")
    rows = result["rows"]
    errors = [r["error"] for r in rows if r["n"]]
    worst = max(errors) if errors else float("nan")
    verdict = ""
    if name in TARGET:
        verdict = (("PASS" if worst <= TARGET[name] else "FAIL") if errors else "n/a: no measurable object")
        verdict += f" (target {TARGET[name]:.0%})"
    print(f"  achieved range {rows[0]['walk']:.3f} .. {rows[-1]['walk']:.3f} for requested "
          f"{rows[0]['requested']:.3f} .. {rows[-1]['requested']:.3f}; worst median error {worst:.1%} {verdict}")


def yardstick(samples: int) -> None:
    """The measurement itself, on rendered objects (known to hold one object) edited in pixel space."""
    images, _ = render_objects(samples, seed=HELD_OUT_SEED + 1)
    base = from_uint8(images)
    before = measure(base)
    print(f"\n# yardstick: measured pixel edits of {samples} rendered objects (median achieved; n usable)")
    for name in [t for t in MAGNITUDES if t != "brightness"]:
        cells = []
        for m in MAGNITUDES[name]:
            after = measure(edit(base, name, m).img)
            values = [edit_effect(name, b, a, base.shape[-1]) for b, a in zip(before, after) if usable(b, a)]
            got = np.median(values) if values else float("nan")
            cells.append(f"{m:.2f}x -> {got:.3f}x" if name == "zoom" else f"{m:+.3f} -> {got:+.3f}")
            cells[-1] += f" (n {len(values)})"
        print(f"  {name:<12} " + "   ".join(cells))


def evaluate_inversion(model: BigGANModel, count: int, steps: int) -> None:
    images, attrs = render_objects(count, seed=HELD_OUT_SEED)
    target = from_uint8(images).to(model.device)
    distance = lpips_distance(model.device)
    cfg = InversionConfig(num_steps=steps, preview_every=0)
    start = time.perf_counter()
    result = next(r for r in invert(model, target, "auto", cfg, distance=distance) if isinstance(r, InversionResult))
    seconds = time.perf_counter() - start
    psnr = np.array([m["psnr"] for m in result.metrics])
    ssim = np.array([m["ssim"] for m in result.metrics])
    correct = np.mean([cls == a.cls for cls, a in zip(result.classes, attrs)])
    print(f"\ninversion of {count} held-out rendered objects (auto class, {cfg.starts} starts, "
          f"{result.steps_run} steps in all, distance: {result.distance_name})")
    print(f"  PSNR mean {psnr.mean():.2f} dB (min {psnr.min():.2f}, max {psnr.max():.2f}); "
          f"SSIM mean {ssim.mean():.3f}; class right {correct:.0%}; {seconds:.1f} s for the batch")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--walks", help="walks file (default: walks.npz in the model folder)")
    parser.add_argument("--samples", type=int, default=96,
                        help="images per walk and magnitude (at 24, a cell's median rests on as few as 13)")
    parser.add_argument("--invert", type=int, default=6, help="held-out objects to invert (0 = skip)")
    parser.add_argument("--steps", type=int, default=150, help="main inversion steps")
    parser.add_argument("--device", help="cpu or cuda (default: cuda when present)")
    args = parser.parse_args()
    device = torch.device(args.device or default_device())
    model = load_model(Registry(), MODEL).to(device)
    walks = load_walks(args.walks or default_walks_path(model), model)
    print(f"# learned walks and inversion on {MODEL}, {machine(device)}")
    print(f"# walks: {args.walks or default_walks_path(model)} ({walks.run})")
    started = time.perf_counter()
    yardstick(args.samples)
    gen = torch.Generator().manual_seed(0)
    z = model.sample_z(args.samples, seed=2024)
    c = torch.nn.functional.one_hot(torch.randint(model.num_classes, (args.samples,), generator=gen),
                                    model.num_classes).float().to(device)
    for name in walks.walks:
        report_walk(name, evaluate_walk(model, walks, name, z, c))
    if args.invert:
        evaluate_inversion(model, args.invert, args.steps)
    print(f"\n# {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
