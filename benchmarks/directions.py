"""Edit directions on the bundled face model: do they change what they name, and nothing else? How fast is an edit?

For each shipped direction: of held-out generator samples the face judge says lack the attribute, the
fraction it says gain it after +3 sigma ("flip", target >= 80%), and the fraction of the other
attributes whose label changes ("others", target < 10%; attributes that exclude each other, such as two
hair colours or eyeglasses and sunglasses, are not counted). The same for a direction learned from
only 20 + 20 rendered faces projected into the model, and each shipped direction conditioned on the
others (their SVM boundaries held). Then milliseconds per single edit render.

Run: python -m benchmarks.directions [--ship] [--n 3000] [--eval 200] [--steps 50]
`--ship` first relearns the bundled directions (directions.npz in the model's folder) from `--n` generator
samples labelled by the judge; run it again whenever the bundled generator changes.
"""

from __future__ import annotations

import argparse
import os
import platform
import time

import numpy as np
import torch

from ganlab.data.toyfaces import HAIR_COLORS, face_labels, render_faces
from ganlab.edit.apply import render_edit
from ganlab.edit.directions import (SHIPPED_ATTRIBUTES, Direction, LearnedDirection, condition, learn_from_images,
                                    load_directions, sample_w, save_directions)
from ganlab.eval.judges import FACE_BINARY, FaceJudge, cached_judge
from ganlab.imaging import from_uint8
from ganlab.train.directions import ship_directions, shipped_path
from ganlab.invert.losses import lpips_distance
from ganlab.invert.projector import ProjectionConfig
from ganlab.models.registry import Registry, load_model
from ganlab.models.stylegan2 import Generator, StyleGAN2Config
from ganlab.models.stylegan2_model import StyleGAN2Model

MODEL_ID = "toyfaces-64"
ALPHA = 3.0
EVAL_SEED = 7_000_000          # generator samples for evaluation; shipping uses seeds from 0
RENDER_SEED = 10 ** 9 + 17     # rendered faces for the projected direction, never seen in training
ATTRIBUTES = FACE_BINARY + tuple(f"hair_{c}" for c in HAIR_COLORS)
EXCLUSIVE = [{f"hair_{c}" for c in HAIR_COLORS}, {"eyeglasses", "sunglasses"}, {"bald", "long_hair"}]


def unrelated(attr: str) -> list[str]:
    """Attributes whose change would be a side effect of editing `attr` (not forced by exclusivity)."""
    return [a for a in ATTRIBUTES if a != attr and not any(attr in g and a in g for g in EXCLUSIVE)]


@torch.no_grad()
def judge_ws(model: StyleGAN2Model, judge: FaceJudge, ws: torch.Tensor, direction: Direction | None = None,
             batch: int = 100) -> dict[str, np.ndarray]:
    """Judge labels of `ws` rendered as they are, or after +ALPHA sigma along `direction`."""
    out: list[dict[str, np.ndarray]] = []
    for chunk in ws.split(batch):
        img = render_edit(model, chunk, [] if direction is None else direction, [] if direction is None else ALPHA)
        out.append(judge.predict(img))
    return {k: np.concatenate([o[k] for o in out]) for k in ATTRIBUTES}


def flip_and_side(model: StyleGAN2Model, judge: FaceJudge, attr: str, direction: Direction, ws: torch.Tensor,
                  before: dict[str, np.ndarray]) -> tuple[float, float] | None:
    """(flip rate of the samples lacking `attr` at +ALPHA sigma, share of their other labels that changed);
    None when fewer than 5 samples lack it."""
    lacking = ~before[attr]
    if lacking.sum() < 5:
        return None
    after = judge_ws(model, judge, ws[torch.from_numpy(lacking)], direction)
    changed = np.mean([np.mean(after[o] != before[o][lacking]) for o in unrelated(attr)])
    return float(after[attr].mean()), float(changed)


def effect(model: StyleGAN2Model, judge: FaceJudge, attr: str, direction: Direction, ws: torch.Tensor,
           before: dict[str, np.ndarray]) -> str:
    """One line: flip rate of the samples lacking `attr`, and how many other labels changed."""
    lacking = ~before[attr]
    measured = flip_and_side(model, judge, attr, direction, ws, before)
    if measured is None:
        return f"{direction.name:<24} only {lacking.sum()} of {len(lacking)} samples lack it: not measured"
    flip, changed = measured
    acc = "  n/a" if direction.accuracy is None else f"{direction.accuracy:5.2f}"
    verdict = "ok" if flip >= 0.8 and changed < 0.1 else "below target"
    return (f"{direction.name:<24} cv-acc {acc}  sigma {direction.sigma:5.2f}  lacking {lacking.sum():4d}  "
            f"flip {flip:6.1%}  others changed {changed:6.1%}  {verdict}")


def projected_direction(model: StyleGAN2Model, attr: str, per_group: int, steps: int) -> tuple[Direction, str]:
    """A direction for `attr` from `per_group` + `per_group` rendered faces projected with `steps` steps."""
    images, attrs = render_faces(40 * per_group, RENDER_SEED, model.resolution)
    has = face_labels(attrs)[attr]
    pos, neg = np.flatnonzero(has)[:per_group], np.flatnonzero(~has)[:per_group]
    if len(pos) < per_group or len(neg) < per_group:
        raise RuntimeError(f"not enough rendered faces with and without {attr}")
    distance = lpips_distance(model.device)
    cfg = ProjectionConfig(num_steps=steps, space="w", preview_every=0, report_every=steps, w_avg_samples=2000)
    start = time.perf_counter()
    for rec in learn_from_images(model, from_uint8(images[pos]), from_uint8(images[neg]), attr, config=cfg,
                                 batch_size=2 * per_group, distance=distance):
        if isinstance(rec, LearnedDirection):
            rec.direction.name = f"{attr} (projected {per_group}+{per_group})"
            note = (f"{len(pos)}+{len(neg)} faces, {steps} steps, distance {distance.name}, "
                    f"{time.perf_counter() - start:.0f} s; warnings: {rec.report.warnings or 'none'}")
            return rec.direction, note
    raise RuntimeError("learn_from_images ended without a direction")


@torch.no_grad()
def edit_ms(model: StyleGAN2Model, direction: Direction, reps: int = 30) -> float:
    """Median milliseconds of one edit render (edit + synthesis) at batch 1, after a warm-up."""
    ws = model.mapping(model.sample_z(1, seed=0))
    sync = torch.cuda.synchronize if model.device.type == "cuda" else (lambda: None)
    render_edit(model, ws, direction, ALPHA)
    times = []
    for _ in range(reps):
        sync()
        t = time.perf_counter()
        render_edit(model, ws, direction, ALPHA)
        sync()
        times.append(time.perf_counter() - t)
    return 1000 * float(np.median(times))


def ffhq1024_latency() -> str:
    if not torch.cuda.is_available():
        return "ffhq-1024 architecture (random weights): skipped, no CUDA GPU on this machine"
    torch.manual_seed(0)
    model = StyleGAN2Model(Generator(StyleGAN2Config()), "ffhq-1024-random").to("cuda")
    d = Direction("random", torch.randn(model.w_dim), model.name)
    return f"ffhq-1024 architecture (random weights), {torch.cuda.get_device_name()}: {edit_ms(model, d):.1f} ms"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--ship", action="store_true", help="relearn and write the bundled directions first")
    parser.add_argument("--n", type=int, default=3000, help="generator samples labelled to ship directions")
    parser.add_argument("--eval", type=int, default=200, help="held-out generator samples to evaluate on")
    parser.add_argument("--steps", type=int, default=50, help="projection steps for the projected direction")
    parser.add_argument("--projected", default="smile", help="attributes to learn from projected faces")
    args = parser.parse_args()
    torch.set_num_threads(1)
    print(f"# edit directions on {platform.machine()} CPU ({os.cpu_count()} cores, load "
          f"{os.getloadavg()[0]:.1f}), torch {torch.__version__}, 1 torch thread")
    model = load_model(Registry(), MODEL_ID)
    judge = cached_judge("faces")
    print("# judge held-out accuracy: " + ", ".join(f"{k} {v:.3f}" for k, v in judge.accuracy.items()))
    path = shipped_path(model)
    if args.ship:
        start = time.perf_counter()
        shipped = ship_directions(model, judge, n=args.n)
        save_directions(shipped, path)
        missing = sorted(set(SHIPPED_ATTRIBUTES) - {d.name for d in shipped})
        print(f"# shipped {len(shipped)} directions to {path} from {args.n} samples in "
              f"{time.perf_counter() - start:.0f} s; skipped (judge saw <2 with or without): {missing or 'none'}")
    shipped = load_directions(path, MODEL_ID, model.w_dim) if path.is_file() else []
    if not shipped:
        print(f"# no shipped directions at {path}: run with --ship")

    ws = sample_w(model, args.eval, seed=EVAL_SEED).unsqueeze(1).repeat(1, model.num_ws, 1)
    before = judge_ws(model, judge, ws)
    print(f"# {args.eval} held-out samples; prevalence: " +
          ", ".join(f"{a} {before[a].mean():.0%}" for a in ATTRIBUTES))
    print(f"# +{ALPHA:g} sigma on all layers; targets: flip >= 80%, others changed < 10%")
    for d in shipped:
        print(effect(model, judge, d.name, d, ws, before))
    print("# the same, each conditioned on the other shipped directions it should leave alone:")
    reference = sample_w(model, 2000)
    for d in shipped:
        others = [o for o in shipped if o.name in unrelated(d.name)]
        conditioned = condition(d, others, reference=reference)
        conditioned.name = f"{d.name} | others"
        print(effect(model, judge, d.name, conditioned, ws, before))
    for attr in filter(None, args.projected.split(",")):
        direction, note = projected_direction(model, attr, per_group=20, steps=args.steps)
        print(effect(model, judge, attr, direction, ws, before))
        print(f"#   {note}")

    probe = shipped[0] if shipped else Direction("random", torch.randn(model.w_dim), MODEL_ID)
    print("# latency of one edit render (batch 1, edit + synthesis):")
    print(f"{MODEL_ID} on CPU: {edit_ms(model, probe):.1f} ms (target < 50 ms)")
    print(ffhq1024_latency())


if __name__ == "__main__":
    main()
