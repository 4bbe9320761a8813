"""How good are the bundled demo generators? Judged by classifiers trained on the renderers' own data.

Run from the repository root: python -m benchmarks.demo_models [--n-judge 1000] [--n-kid 2000]

Per bundled model it writes a sample sheet (benchmarks/out/<model>-samples.png) and prints
- faces: each attribute's rate among generated samples as the face judge sees them, next to the
  renderer's true rate and the judge's rate on rendered faces (the gap between those two is the
  judge's own error);
- objects: for class-conditional samples, the fraction the object judge assigns to the requested
  class, per class and overall, next to the same on rendered objects;
- KID (judge features) between generated and rendered images, and between two rendered sets with
  different seeds as the floor that a perfect generator would reach.
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

import numpy as np
import torch
from PIL import Image
from threadpoolctl import threadpool_limits

from ganlab.data import CLASS_NAMES, HAIR_COLORS, face_labels, object_labels, render_faces, render_objects
from ganlab.eval.judges import FACE_BINARY, Judge, cached_judge, judge_path
from ganlab.eval.kid import kid
from ganlab.imaging import from_uint8, grid, to_uint8
from ganlab.models.base import GanModel
from ganlab.models.registry import Registry, load_model

OUT = Path(__file__).resolve().parent / "out"
# Reference renders use seeds that neither the generators nor the judges trained on.
REFERENCE_SEEDS = (930_000_001, 930_000_002)
KID_SUBSETS, KID_SUBSET_SIZE = 100, 1000


@dataclass
class Clock:
    """Wall and CPU time per stage: on a shared machine the wall time also counts other jobs' turns."""

    wall: dict[str, float] = field(default_factory=dict)
    cpu: dict[str, float] = field(default_factory=dict)

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        wall, cpu = time.perf_counter(), time.process_time()
        try:
            yield
        finally:
            self.wall[name] = self.wall.get(name, 0.0) + time.perf_counter() - wall
            self.cpu[name] = self.cpu.get(name, 0.0) + time.process_time() - cpu

    def report(self) -> str:
        return "\n".join(f"  {name:<20} {self.wall[name]:7.1f} s wall {self.cpu[name]:7.1f} s CPU"
                         for name in self.wall)


def machine() -> str:
    """CPU model, logical CPUs and torch threads: the timings mean little without them."""
    name = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                name = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{name}, {os.cpu_count()} logical CPUs, torch {torch.__version__} with {torch.get_num_threads()} threads"


def batches(n: int, size: int) -> Iterator[slice]:
    for start in range(0, n, size):
        yield slice(start, min(n, start + size))


@torch.no_grad()
def generate(model: GanModel, n: int, seed: int, classes: np.ndarray | None = None, batch: int = 100) -> np.ndarray:
    """uint8 [n, H, W, 3] samples at truncation 1, quantised as a saved picture would be.

    `classes` (one class index per sample) is required for class-conditional models.
    """
    z = model.sample_z(n, seed=seed)
    onehots = None
    if classes is not None:
        onehots = torch.cat([model.class_vector(k, 1) for k in range(model.num_classes)])[torch.from_numpy(classes)]
    out = []
    for part in batches(n, batch):
        c = None if onehots is None else onehots[part]
        out.append(to_uint8(model.synthesize(z[part], space="z", c=c)))
    return np.concatenate(out)


def save_sheet(images: np.ndarray, cols: int, name: str) -> Path:
    OUT.mkdir(parents=True, exist_ok=True)
    path = OUT / f"{name}-samples.png"
    Image.fromarray(grid(images, cols)).save(path)
    return path


def get_judge(domain: str, clock: Clock) -> Judge:
    """The cached judge (trained first if absent), with how it was obtained and its held-out accuracy."""
    cached, stage = judge_path(domain).is_file(), f"{domain} judge"
    with clock.stage(stage):
        judge = cached_judge(domain)
    how = "loaded from cache" if cached else f"trained and cached ({judge.config.n_train} rendered images)"
    accs = ", ".join(f"{k} {v:.1%}" for k, v in judge.accuracy.items())
    print(f"judge {judge.config.key()}: {how} in {clock.wall[stage]:.1f} s wall / {clock.cpu[stage]:.1f} s CPU")
    print(f"  held-out accuracy on {judge.config.n_test} fresh rendered images: {accs}")
    return judge


def print_kid(judge: Judge, generated: np.ndarray, rendered: np.ndarray, rendered_other: np.ndarray,
              clock: Clock, domain: str) -> None:
    with clock.stage(f"{domain} KID"):
        feats = [judge.features(from_uint8(x)) for x in (generated, rendered, rendered_other)]
        gen_mean, gen_std = kid(feats[0], feats[1], KID_SUBSETS, KID_SUBSET_SIZE)
        ref_mean, ref_std = kid(feats[2], feats[1], KID_SUBSETS, KID_SUBSET_SIZE)
    n = len(generated)
    print(f"KID x 1000 on judge features ({KID_SUBSETS} subsets of {min(n, KID_SUBSET_SIZE)}): "
          f"generated vs rendered ({n} each) "
          f"{1e3 * gen_mean:.3f} ± {1e3 * gen_std:.3f}; rendered vs rendered (other seed, floor) "
          f"{1e3 * ref_mean:.3f} ± {1e3 * ref_std:.3f}")


def bench_faces(model: GanModel, n_judge: int, n_kid: int, clock: Clock) -> None:
    judge = get_judge("faces", clock)
    with clock.stage("faces generate"):
        generated = generate(model, n_kid, seed=0)
    print(f"sample sheet: {save_sheet(generated[:64], 8, model.name)}")
    with clock.stage("faces render"):
        rendered, attrs = render_faces(n_kid, REFERENCE_SEEDS[0])
        rendered_other, _ = render_faces(n_kid, REFERENCE_SEEDS[1])
    with clock.stage("faces predict"):
        truth = face_labels(attrs[:n_judge])
        on_rendered = judge.predict(from_uint8(rendered[:n_judge]))
        on_generated = judge.predict(from_uint8(generated[:n_judge]))
    print(f"\nattribute rates over {n_judge} images"
          f"\n{'attribute':<12} {'renderer':>9} {'judge on rendered':>18} {'judge accuracy':>15} "
          f"{'judge on generated':>19}")
    for name in [*FACE_BINARY, *(f"hair_{c}" for c in HAIR_COLORS)]:
        acc = np.mean(on_rendered[name] == truth[name])
        print(f"{name:<12} {truth[name].mean():>9.1%} {on_rendered[name].mean():>18.1%} {acc:>15.1%} "
              f"{on_generated[name].mean():>19.1%}")
    print_kid(judge, generated, rendered, rendered_other, clock, "faces")


def bench_objects(model: GanModel, n_judge: int, n_kid: int, clock: Clock) -> None:
    if model.num_classes != len(CLASS_NAMES):
        raise SystemExit(f"{model.name} has {model.num_classes} classes, the object judge {len(CLASS_NAMES)}")
    judge = get_judge("objects", clock)
    requested = np.arange(n_kid) % len(CLASS_NAMES)
    with clock.stage("objects generate"):
        generated = generate(model, n_kid, seed=0, classes=requested)
    order = np.argsort(requested[:80], kind="stable")
    print(f"sample sheet (one class per row): {save_sheet(generated[:80][order], 8, model.name)}")
    with clock.stage("objects render"):
        rendered, attrs = render_objects(n_kid, REFERENCE_SEEDS[0])
        rendered_other, _ = render_objects(n_kid, REFERENCE_SEEDS[1])
    with clock.stage("objects predict"):
        truth = object_labels(attrs[:n_judge])["cls"]
        on_rendered = judge.predict(from_uint8(rendered[:n_judge]))["cls"]
        on_generated = judge.predict(from_uint8(generated[:n_judge]))["cls"]
    asked = requested[:n_judge]
    print(f"\nclass shares and hit rates over {n_judge} images (hit: judge names the true / requested class)"
          f"\n{'class':<10} {'renderer':>9} {'judge on rendered':>18} {'hit rendered':>13} "
          f"{'judge on generated':>19} {'hit generated':>14}")
    for k, name in enumerate(CLASS_NAMES):
        print(f"{name:<10} {np.mean(truth == k):>9.1%} {np.mean(on_rendered == k):>18.1%} "
              f"{np.mean(on_rendered[truth == k] == k):>13.1%} {np.mean(on_generated == k):>19.1%} "
              f"{np.mean(on_generated[asked == k] == k):>14.1%}")
    print(f"{'overall':<10} {'':>9} {'':>18} {np.mean(on_rendered == truth):>13.1%} {'':>19} "
          f"{np.mean(on_generated == asked):>14.1%}")
    print_kid(judge, generated, rendered, rendered_other, clock, "objects")


BENCHES = {"faces": bench_faces, "objects": bench_objects}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n-judge", type=int, default=1000, help="images per attribute / class table")
    parser.add_argument("--n-kid", type=int, default=2000, help="generated and rendered images per KID set")
    parser.add_argument("--threads", type=int, default=1,
                        help="CPU threads for torch and BLAS; 1 is fastest on a CPU shared with other jobs")
    args = parser.parse_args()
    if args.n_judge > args.n_kid:
        parser.error("--n-judge cannot exceed --n-kid (the judged images are the first of the KID set)")
    torch.set_num_threads(args.threads)
    clock, start, cpu_start = Clock(), time.perf_counter(), time.process_time()
    print(f"# bundled demo models judged on {machine()}")
    registry = Registry()
    with threadpool_limits(args.threads):
        for spec in registry.list():
            if not spec.bundled:
                continue
            print(f"\n## {spec.id}: {spec.description}")
            bench = BENCHES.get(spec.domain)
            if bench is None:
                print(f"no judge for domain {spec.domain!r}; skipped")
                continue
            with clock.stage(f"{spec.domain} load model"):
                model = load_model(registry, spec.id)
            bench(model, args.n_judge, args.n_kid, clock)
    print(f"\ntimes per stage (CPU: this process, all threads)\n{clock.report()}")
    print(f"  {'total':<20} {time.perf_counter() - start:7.1f} s wall {time.process_time() - cpu_start:7.1f} s CPU")


if __name__ == "__main__":
    main()
