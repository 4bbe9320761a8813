"""Pivotal tuning against W+ projection on the bundled face model: fidelity, time, locality, editability, bytes.

Targets: held-out rendered faces (seeds the training never drew) and the real CelebA-HQ photos in
`../shared/testdata/faces/celebahq` resized to the model's 64 px. For each kind, the mean PSNR / SSIM /
distance (LPIPS or the stated fallback) and seconds per image of
  - W+ projection, 500 steps with ganlab's tuned settings;
  - PTI given the same wall time as that projection (its tuning steps cut to fit);
  - PTI at its default budget.
Then locality (mean absolute pixel change of 64 random latents' renderings after tuning, in [-1, 1] units),
the shipped directions' judged flip rates on the rendered faces' pivots with and without their tuned
weights, and the bytes one latent's tuned weights take as an fp16 difference and as low-rank factors
(with the PSNR each gives back).

Run: PYTHONPATH=. OMP_NUM_THREADS=1 python benchmarks/pti.py [--images 10] [--faces 8] [--quick]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch

from benchmarks.common import describe_machine
from ganlab.data.toyfaces import render_faces
from ganlab.edit.apply import render_edit
from ganlab.edit.directions import load_directions
from ganlab.imaging import from_uint8
from ganlab.invert.encoder import find_encoder
from ganlab.invert.losses import lpips_distance
from ganlab.invert.metrics import psnr
from ganlab.invert.projector import ProjectionResult, ProjectionStep, project, settings_config
from ganlab.invert.pti import PTIConfig, PTIResult, pti_project
from ganlab.invert.targets import prepare_target
from ganlab.models.registry import Registry, load_model
from ganlab.models.stylegan2_model import StyleGAN2Model
from ganlab.models.tuned import TunedWeights

PHOTOS = Path(__file__).resolve().parent.parent.parent / "shared" / "testdata" / "faces" / "celebahq"
HELD_OUT_SEED = 10 ** 9 + 101   # rendered faces the training never drew
LOCALITY_SEED = 4242            # the 64 random latents whose renderings must not move
PROJECTION_STEPS = 500
ALPHA = 3.0                     # edit strength for the flip rates, in sigma (as benchmarks/directions.py)
RANKS = (4, 16)


def targets(model: StyleGAN2Model, n_faces: int, n_images: int) -> dict[str, torch.Tensor]:
    out = {"held-out rendered faces": from_uint8(render_faces(n_faces, HELD_OUT_SEED, model.resolution)[0])}
    photos = sorted(PHOTOS.glob("*.jpg"))
    if not photos:
        print(f"# no photos at {PHOTOS}: real-photo rows skipped")
    elif n_images > 0:
        out["real CelebA-HQ photos (64 px)"] = torch.cat([prepare_target(p, model.resolution).img
                                                          for p in photos[:n_images]])
    return out


def last(records) -> tuple[ProjectionResult, list[float]]:
    """A run's result and the wall-clock time of each of its step records."""
    stamps, result = [], None
    for rec in records:
        if isinstance(rec, ProjectionStep):
            stamps.append(time.perf_counter())
        else:
            result = rec
    return result, stamps


def project_w_plus(model: StyleGAN2Model, target: torch.Tensor, distance) -> tuple[ProjectionResult, float]:
    cfg = settings_config("tuned", num_steps=PROJECTION_STEPS, space="w+", preview_every=0,
                          report_every=PROJECTION_STEPS)
    start = time.perf_counter()
    result, _ = last(project(model, target, cfg, distance=distance))
    return result, time.perf_counter() - start


def run_pti(model: StyleGAN2Model, target: torch.Tensor, distance, cfg: PTIConfig) -> tuple[PTIResult, float, float]:
    """(result, seconds, seconds per tuning step)."""
    start = time.perf_counter()
    result, stamps = last(pti_project(model, target, cfg, encoder=find_encoder(model), distance=distance))
    took = time.perf_counter() - start
    tuning = stamps[-cfg.tune_steps:] if cfg.tune_steps > 1 else []
    per_step = (tuning[-1] - tuning[0]) / (len(tuning) - 1) if len(tuning) > 1 else 0.0
    return result, took, per_step


def mean_row(name: str, metrics: list[dict[str, float]], seconds: list[float]) -> str:
    mean = {k: float(np.mean([m[k] for m in metrics])) for k in ("psnr", "ssim", "distance")}
    return (f"  {name:<50} PSNR {mean['psnr']:6.2f} dB  SSIM {mean['ssim']:.3f}  distance {mean['distance']:.4f}  "
            f"{np.mean(seconds):5.1f} s/image")


@torch.no_grad()
def locality(model: StyleGAN2Model, weights: TunedWeights) -> float:
    z = model.sample_z(64, seed=LOCALITY_SEED)
    return float((weights.apply(model).synthesize(z, space="z") - model.synthesize(z, space="z")).abs().mean())


def low_rank(weights: TunedWeights, rank: int) -> tuple[TunedWeights, int]:
    """Each difference [O, I, k, k] truncated to `rank` singular values (vectors kept whole); (it, bytes in fp16)."""
    out, size = {}, 0
    for name, delta in weights.deltas.items():
        d = delta.float()
        if d.ndim < 2 or min(d.shape[0], d[0].numel()) <= rank:
            out[name], size = delta, size + delta.numel() * 2
            continue
        u, s, vh = torch.linalg.svd(d.reshape(d.shape[0], -1), full_matrices=False)
        a, b = (u[:, :rank] * s[:rank]).half(), vh[:rank].half()
        out[name] = (a.float() @ b.float()).reshape(d.shape).half()
        size += (a.numel() + b.numel()) * 2
    return TunedWeights(weights.model_id, out), size


@torch.no_grad()
def flip_rates(model: StyleGAN2Model, judge, ws: torch.Tensor, tuned: list[TunedWeights | None]) -> list[str]:
    """Per shipped direction: of the pivots the judge says lack the attribute, the fraction that gain it at
    +ALPHA sigma, rendered through the base model and through each pivot's own tuned weights."""
    directions = load_directions(Path(model.folder) / "directions.npz", model.name, model.w_dim)
    renders = {"base": [model] * len(tuned), "tuned": [w.apply(model) for w in tuned]}
    lines, gaps = [], []
    for d in directions:
        rates = {}
        for kind, gens in renders.items():
            before = np.array([judge.predict(render_edit(g, ws[i:i + 1]))[d.name][0] for i, g in enumerate(gens)])
            after = np.array([judge.predict(render_edit(g, ws[i:i + 1], d, ALPHA))[d.name][0]
                              for i, g in enumerate(gens)])
            lacking = ~before
            rates[kind] = (after[lacking].mean() if lacking.any() else float("nan"), int(lacking.sum()))
        gap = abs(rates["base"][0] - rates["tuned"][0]) * 100
        gaps.append(gap)
        lines.append(f"  {d.name:<16} flip without tuning {rates['base'][0]:6.1%} (of {rates['base'][1]})  "
                     f"with tuning {rates['tuned'][0]:6.1%} (of {rates['tuned'][1]})  gap {gap:4.1f} points")
    lines.append(f"  mean gap {np.nanmean(gaps):.1f} points, largest {np.nanmax(gaps):.1f} (goal: within 10)")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--images", type=int, default=10, help="real photos (at most the 10 in testdata)")
    parser.add_argument("--faces", type=int, default=8, help="held-out rendered faces")
    parser.add_argument("--quick", action="store_true", help="2 faces, 2 photos, 50 tuning steps, no flip rates")
    args = parser.parse_args()
    model = load_model(Registry(), "toyfaces-64").to("cpu")
    distance = lpips_distance("cpu")
    n_faces, n_images = (2, 2) if args.quick else (args.faces, args.images)
    default = PTIConfig(preview_every=0, **({"tune_steps": 50} if args.quick else {}))
    print(f"# PTI on toyfaces-64, {describe_machine(torch.device('cpu'))}")
    print(f"# distance: {distance.name}" + (f" ({distance.why})" if distance.why else ""))
    print(f"# PTI default: pivot {default.pivot} ({default.pivot_steps} steps), {default.tune_steps} tuning steps, "
          f"lr {default.learning_rate:g} (cosine ramp-down over the last {default.lr_rampdown:.0%}), pixel weight "
          f"{default.pixel_weight:g}, locality weight {default.locality_weight:g} on {default.locality_batch} of "
          f"{default.locality_pool} random latents every {default.locality_every} steps")
    rendered = None
    for kind, batch in targets(model, n_faces, n_images).items():
        rows: dict[str, tuple[list, list]] = {}
        done: list[PTIResult] = []
        local, fits = [], []
        for i in range(len(batch)):
            target = batch[i:i + 1]
            proj, proj_s = project_w_plus(model, target, distance)
            full, full_s, per_step = run_pti(model, target, distance, default)
            pivot_s = full_s - per_step * default.tune_steps
            fit = max(0, int((proj_s - pivot_s) / per_step)) if per_step else 0
            same, same_s, _ = run_pti(model, target, distance, PTIConfig(**{**default.__dict__, "tune_steps": fit}))
            fits.append(fit)
            for key, res, secs in ((f"W+ projection {PROJECTION_STEPS} steps", proj, proj_s),
                                   ("PTI at the same wall time", same, same_s), ("PTI default", full, full_s)):
                rows.setdefault(key, ([], []))
                rows[key][0].append(res.metrics[0])
                rows[key][1].append(secs)
            done.append(full)
            local.append(locality(model, full.tuned[0]))
        print(f"{kind} ({len(batch)}):")
        steps = {"PTI at the same wall time": f" ({np.mean(fits):.0f} tuning steps)",
                 "PTI default": f" ({default.tune_steps} tuning steps)"}
        for name, (metrics, seconds) in rows.items():
            print(mean_row(name + steps.get(name, ""), metrics, seconds))
        gain = np.mean([m["psnr"] for m in rows["PTI default"][0]]) - np.mean(
            [m["psnr"] for m in rows[f"W+ projection {PROJECTION_STEPS} steps"][0]])
        print(f"  PTI default over W+ projection: {gain:+.2f} dB")
        print(f"  locality: mean |pixel change| of 64 random latents {np.mean(local):.4f} "
              f"(max over targets {np.max(local):.4f}; goal < 0.02)")
        sizes = [r.tuned[0].nbytes for r in done]
        ws = torch.cat([r.ws for r in done])
        line = [f"fp16 difference {np.mean(sizes) / 1024:.0f} KB, PSNR {np.mean([r.metrics[0]['psnr'] for r in done]):.2f}"]
        for rank in RANKS:
            got = [low_rank(r.tuned[0], rank) for r in done]
            with torch.no_grad():
                p = [float(psnr(w.apply(model).net.synthesis(ws[i:i + 1], noise_mode="const").clamp(-1, 1),
                                batch[i:i + 1])[0]) for i, (w, _) in enumerate(got)]
            line.append(f"rank {rank} {np.mean([b for _, b in got]) / 1024:.0f} KB, PSNR {np.mean(p):.2f}")
        print("  bytes per latent: " + "; ".join(line))
        if kind.startswith("held-out"):
            rendered = (ws, [r.tuned[0] for r in done])
    if not args.quick:
        from ganlab.eval.judges import cached_judge

        start = time.perf_counter()
        judge = cached_judge("faces")  # trained on first use (a few minutes), then read from the cache
        lines = flip_rates(model, judge, *rendered)
        print(f"held-out rendered faces: shipped directions at +{ALPHA:g} sigma on their pivots, judged "
              f"({time.perf_counter() - start:.0f} s with the judge):")
        print("\n".join(lines))


if __name__ == "__main__":
    main()
