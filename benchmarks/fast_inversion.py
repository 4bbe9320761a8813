"""Fast inversion on held-out rendered faces: how many steps each method needs for the plain projector's quality.

Methods, each on the same targets (seeds training never used), each budget its own run:
  plain       the projector in w+ from the mean w (official settings: the reference)
  plain-tuned the same with ganlab's tuned settings
  encoder     one forward pass of the encoder (budget 0) and the projector started there (w+)
  landscape   Adam steps on u through the learned landscape map theta
Prints PSNR / SSIM / distance and wall time per budget, then the verdicts the issue asks for: encoder +
projector reaching the plain 1000-step PSNR within 100 steps, the encoder alone within 3 dB of it.

Then the same question for BigGAN on toyobjects-64: held-out rendered objects inverted the usual way
(class search, random starts) against inversion started from the object encoder's z and class.

Run: python -m benchmarks.fast_inversion [--n 8] [--encoder DIR] [--landscape DIR] [--object-encoder DIR]
     [--device cpu]   (without the folder options the shipped networks in assets/ are used)
"""

from __future__ import annotations

import argparse
import platform
import time
from typing import Iterator

import numpy as np
import torch
import torch.nn.functional as F

from benchmarks.projection import HELD_OUT_SEED
from ganlab.data.toyfaces import render_faces
from ganlab.data.toyobjects import render_objects
from ganlab.imaging import from_uint8
from ganlab.invert.biggan import InversionConfig
from ganlab.invert.biggan import invert as biggan_invert
from ganlab.invert.encoder import find_encoder, load_encoder
from ganlab.invert.hybrid import hybrid_project
from ganlab.invert.landscape import find_landscape, landscape_project, load_landscape
from ganlab.invert.losses import lpips_distance
from ganlab.invert.metrics import psnr
from ganlab.invert.object_encoder import encode, find_object_encoder, load_object_encoder
from ganlab.invert.projector import ProjectionConfig, ProjectionResult, project, settings_config
from ganlab.models.pool import default_device
from ganlab.models.registry import Registry, load_model


def final(records: Iterator) -> ProjectionResult:
    for rec in records:
        if isinstance(rec, ProjectionResult):
            return rec
    raise RuntimeError("inversion ended without a result")


def mean_metrics(result: ProjectionResult) -> dict[str, float]:
    m = result.metrics
    return {k: sum(x[k] for x in m) / len(m) for k in ("psnr", "ssim", "distance")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=8, help="held-out targets")
    parser.add_argument("--seed", type=int, default=HELD_OUT_SEED,
                        help="dataset seed of the face targets (another one checks figures on faces not tuned on)")
    parser.add_argument("--plain", default="25,50,100,250,500,1000")
    parser.add_argument("--hybrid", default="0,10,25,50,100,250")
    parser.add_argument("--landscape-steps", default="10,25,50,100,250")
    parser.add_argument("--encoder", help="encoder folder (default: the shipped one)")
    parser.add_argument("--landscape", help="landscape map folder (default: the shipped one)")
    parser.add_argument("--object-encoder", help="BigGAN encoder folder (default: the shipped one)")
    parser.add_argument("--object-steps", default="10,25,50,150", help="main-run steps for toyobjects-64")
    parser.add_argument("--device", default=str(default_device()))
    args = parser.parse_args()
    device = torch.device(args.device)
    where = torch.cuda.get_device_name(device) if device.type == "cuda" else \
        f"{platform.machine()} CPU, {torch.get_num_threads()} torch threads"
    model = load_model(Registry(), "toyfaces-64").to(device)
    encoder = load_encoder(args.encoder, model) if args.encoder else find_encoder(model)
    lmap = load_landscape(args.landscape, model) if args.landscape else find_landscape(model)
    distance = lpips_distance(device)
    target = from_uint8(render_faces(args.n, args.seed, model.resolution)[0]).to(device)
    print(f"# fast inversion on toyfaces-64, {args.n} held-out rendered faces (seed {args.seed}), {where}, "
          f"torch {torch.__version__}")
    print(f"# distance: {distance.name}" + (f" ({distance.why})" if distance.why else ""))

    def plain(settings: str):
        return lambda k: project(model, target, settings_config(settings, num_steps=k, space="w+", preview_every=0,
                                                                report_every=k), distance=distance)

    runs = {"plain": plain("official"), "plain-tuned": plain("tuned")}
    budgets = {name: [int(b) for b in args.plain.split(",")] for name in runs}
    if encoder is not None:
        runs["encoder"] = lambda k: hybrid_project(model, encoder, target, k, ProjectionConfig(preview_every=0),
                                                   distance=distance)
        budgets["encoder"] = [int(b) for b in args.hybrid.split(",")]
    else:
        print("encoder: skipped (none shipped for toyfaces-64 and no --encoder given)")
    if lmap is not None:
        runs["landscape"] = lambda k: landscape_project(model, lmap, target, steps=k, distance=distance,
                                                        preview_every=0)
        budgets["landscape"] = [int(b) for b in args.landscape_steps.split(",")]
    else:
        print("landscape: skipped (none shipped for toyfaces-64 and no --landscape given)")

    table: dict[str, list[tuple[int, dict[str, float], float]]] = {}
    for method, run in runs.items():
        for steps in budgets[method]:
            start = time.perf_counter()
            mean = mean_metrics(final(run(steps)))
            wall = time.perf_counter() - start
            table.setdefault(method, []).append((steps, mean, wall))
            print(f"{method:<11} {steps:>5} steps: PSNR {mean['psnr']:6.2f} dB  SSIM {mean['ssim']:.3f}  "
                  f"distance {mean['distance']:.4f}  {wall:6.1f} s for {args.n}", flush=True)

    reference = max(table["plain"], key=lambda row: row[0])
    ref_steps, ref_psnr, ref_wall = reference[0], reference[1]["psnr"], reference[2]
    print(f"\nreference: plain projector, {ref_steps} steps: PSNR {ref_psnr:.2f} dB in {ref_wall:.1f} s")
    for method, rows in table.items():
        reached = [row for row in rows if row[1]["psnr"] >= ref_psnr]
        if reached:
            steps, mean, wall = min(reached, key=lambda row: row[0])
            print(f"{method:<11} reaches it in {steps} steps, {wall:.1f} s ({ref_wall / max(wall, 1e-9):.1f}x faster)")
        else:
            best = max(rows, key=lambda row: row[1]["psnr"])
            print(f"{method:<11} does not reach it within {max(r[0] for r in rows)} steps "
                  f"(best {best[1]['psnr']:.2f} dB at {best[0]} steps)")
    if "encoder" in table:
        single = [row for row in table["encoder"] if row[0] == 0]
        if single:
            gap = ref_psnr - single[0][1]["psnr"]
            print(f"encoder alone (one forward pass): {single[0][1]['psnr']:.2f} dB, {gap:.2f} dB below the reference "
                  f"(target: within 3 dB) in {single[0][2] * 1000:.0f} ms for {args.n}")
        within = [row for row in table["encoder"] if row[0] <= 100 and row[1]["psnr"] >= ref_psnr]
        print(f"target 'encoder + projector within 100 steps': {'met' if within else 'not met'}")
    objects(args, device)


def objects(args: argparse.Namespace, device: torch.device) -> None:
    """BigGAN: the usual inversion (class search + random starts) against starting from the encoder."""
    model = load_model(Registry(), "toyobjects-64").to(device)
    enc = load_object_encoder(args.object_encoder, model) if args.object_encoder else find_object_encoder(model)
    print("\n# toyobjects-64 (BigGAN), held-out rendered objects")
    if enc is None:
        print("object encoder: skipped (none shipped for toyobjects-64 and no --object-encoder given)")
        return
    images, attrs = render_objects(args.n, HELD_OUT_SEED, size=model.resolution)
    target = from_uint8(images).to(device)
    truth = torch.tensor([a.cls for a in attrs])
    distance = lpips_distance(device)
    start = time.perf_counter()
    z, classes = encode(enc, model, target)
    with torch.no_grad():
        img = model.synthesize(z, c=F.one_hot(classes, model.num_classes).float()).clamp(-1, 1)
    wall = time.perf_counter() - start
    right = float((classes.cpu() == truth).float().mean())
    print(f"encoder alone: PSNR {psnr(img, target).mean():6.2f} dB  class right {right:.0%}  "
          f"{wall * 1000:.0f} ms for {args.n}")
    for steps in [int(k) for k in args.object_steps.split(",")]:
        for label, init in (("class search + random starts", None), ("from the encoder", (z, classes))):
            cfg = InversionConfig(num_steps=steps, preview_every=0)
            start = time.perf_counter()
            *_, result = biggan_invert(model, target, "auto", cfg, distance=distance, init=init)
            wall = time.perf_counter() - start
            right = np.mean([c == int(t) for c, t in zip(result.classes, truth)])
            print(f"{label:<30} main run {steps:>4} steps ({result.steps_run:>4} in all): PSNR "
                  f"{np.mean([m['psnr'] for m in result.metrics]):6.2f} dB  class right {right:.0%}  "
                  f"{wall:6.1f} s for {args.n}", flush=True)


if __name__ == "__main__":
    main()
