"""Do projections replayed as CUDA graphs match the same projections run eagerly? (CUDA only)

Two models, each projecting generator samples with one seed: the bundled toyfaces-64 model (two
targets, `w+`) and the FFHQ-256 architecture with random weights (one target, `w`, the official
recipe). Distances are the VGG16 stand-in of `projection_speed` (random weights; nothing downloads).
Each is run four ways:

- graph: the default on CUDA, every step one replayed CUDA graph;
- eager: `cuda_graph=False`, the same device-side arithmetic (device learning rate, capturable Adam)
  run step by step;
- same maths, uncaptured: the same, forced by a distance that reads a value back to the host, which no
  graph can hold (the fallback path);
- chunked: the graph path paused after every step of the first 10 and resumed, alternately eagerly;

and the eager run once more, to show the GPU's own run-to-run spread. Without `--deterministic` (and
CUBLAS_WORKSPACE_CONFIG=:4096:8) cuDNN and cuBLAS pick non-deterministic kernels, and even two eager runs
drift apart by ~1e-2 over 50 steps of Adam: only a deterministic run can show that the graph adds no
difference of its own. Exit status 1 when a check fails.

Run: CUBLAS_WORKSPACE_CONFIG=:4096:8 PYTHONPATH=. python -m benchmarks.check_graph --deterministic [--steps 50]
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings

import torch

from benchmarks.projection_speed import VGGFeatures, as_distance
from benchmarks.vs_official import ganlab_config
from ganlab.invert.losses import Distance
from ganlab.invert.projector import (ProjectionConfig, ProjectionResult, ProjectionState, ProjectionStep, project,
                                     settings_config, uncaptured_distances)
from ganlab.models.loaders import load_checkpoint
from ganlab.settings import assets_dir
from ganlab.models.stylegan2 import Generator
from ganlab.models.stylegan2_model import build_stylegan2

SAME_MATHS_MAX = 1e-3   # graph vs uncaptured: max |ws difference|
EAGER_MEAN = 1e-3       # graph vs eager loop: mean |ws difference|
EAGER_PSNR_DB = 0.05    # graph vs eager loop: PSNR difference of any target


def uncapturable(dist: Distance) -> Distance:
    """`dist` with a read back to the host at every call: equal values, but no graph can hold it."""
    def fn(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        a.sum().item()
        return dist.fn(a, b)
    return Distance(f"{dist.name}, read on the host", fn)


def run(model, target, cfg: ProjectionConfig, distance: Distance) -> tuple[ProjectionResult, float]:
    """The result and the milliseconds per step (between the first and the last record)."""
    stamps, result = [], None
    for rec in project(model, target, cfg, distance=distance):
        if isinstance(rec, ProjectionStep):
            stamps.append(time.perf_counter())
        else:
            result = rec
    return result, (stamps[-1] - stamps[0]) / max(1, len(stamps) - 1) * 1000


def chunked(model, target, cfg: ProjectionConfig, distance: Distance, chunks: int) -> ProjectionResult:
    """One step per call for the first `chunks` calls, alternately eager and graphed, then the rest graphed."""
    state, calls = None, 0
    while True:
        pause = 0.0 if calls < chunks else None
        call_cfg = ProjectionConfig(**{**cfg.__dict__, "cuda_graph": calls % 2 == 1 or pause is None})
        records = list(project(model, target, call_cfg, distance=distance, resume=state, pause_after_s=pause))
        calls += 1
        if isinstance(records[-1], ProjectionResult):
            return records[-1]
        state = records[-1]
        assert isinstance(state, ProjectionState)


def check(name: str, model, target, cfg: ProjectionConfig, distance: Distance) -> list[str]:
    """Print one model's comparison; the failed checks."""
    graph, graph_ms = run(model, target, cfg, distance)
    eager, eager_ms = run(model, target, ProjectionConfig(**{**cfg.__dict__, "cuda_graph": False}), distance)
    eager_again, _ = run(model, target, ProjectionConfig(**{**cfg.__dict__, "cuda_graph": False}), distance)
    pieces = chunked(model, target, cfg, distance, chunks=10)
    same_maths = uncapturable(distance)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # the failed capture it is made for
        same, same_ms = run(model, target, cfg, same_maths)

    def gap(result: ProjectionResult) -> tuple[float, float]:
        """Max and mean |ws difference| from the graph run."""
        d = (result.ws - graph.ws).abs()
        return d.max().item(), d.mean().item()

    print(f"# {name}: {cfg.num_steps} steps in {cfg.space}, {target.shape[0]} target(s)")
    for label, result, ms in (("graph", graph, graph_ms), ("eager", eager, eager_ms),
                              ("same maths, uncaptured", same, same_ms), ("chunked, eager/graph", pieces, None)):
        psnrs = " ".join(f"{m['psnr']:.3f}" for m in result.metrics)
        per_step = f"{ms:6.2f} ms/step" if ms is not None else " " * 14
        apart = "" if result is graph else "  |ws - graph| max {:.1e} mean {:.1e}".format(*gap(result))
        print(f"  {label:<24} {per_step}  PSNR {psnrs} dB  steps {result.steps_run}{apart}", flush=True)

    d = (eager_again.ws - eager.ws).abs()
    print(f"  {'eager run-to-run':<24} {'':14}  |ws - eager| max {d.max().item():.1e} mean {d.mean().item():.1e}"
          "  (the GPU's own non-determinism: the scale the differences above compare with)", flush=True)

    failed = []
    uncaptured = uncaptured_distances()
    if distance.name in uncaptured:
        failed.append(f"{name}: the graph run was not captured: {uncaptured[distance.name]}")
    if same_maths.name not in uncaptured:
        failed.append(f"{name}: the host-reading distance was captured after all; the comparison is void")
    if gap(same)[0] > SAME_MATHS_MAX:
        failed.append(f"{name}: graph vs the same maths uncaptured differ by {gap(same)[0]:.1e} > {SAME_MATHS_MAX}")
    for label, result in (("eager", eager), ("chunked", pieces)):
        if gap(result)[1] > EAGER_MEAN:
            failed.append(f"{name}: graph vs {label}: mean |ws difference| {gap(result)[1]:.1e} > {EAGER_MEAN}")
        worst = max(abs(a["psnr"] - b["psnr"]) for a, b in zip(result.metrics, graph.metrics))
        if worst > EAGER_PSNR_DB:
            failed.append(f"{name}: graph vs {label}: PSNR differs by {worst:.3f} dB > {EAGER_PSNR_DB}")
        if result.steps_run != graph.steps_run:
            failed.append(f"{name}: graph vs {label}: {graph.steps_run} steps run against {result.steps_run}")
    return failed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=50)
    parser.add_argument("--deterministic", action="store_true",
                        help="deterministic cuDNN/cuBLAS kernels, so runs repeat exactly and any difference is "
                             "the graph's own (set CUBLAS_WORKSPACE_CONFIG=:4096:8 too)")
    args = parser.parse_args()
    if args.deterministic:
        torch.backends.cudnn.benchmark = False
        torch.use_deterministic_algorithms(True, warn_only=True)
    if not torch.cuda.is_available():
        print("check_graph compares CUDA graph replays with eager steps and needs a CUDA device; none here, "
              "nothing checked")
        return
    device = torch.device("cuda")
    print(f"# {torch.cuda.get_device_name(device)}, torch {torch.__version__}")
    vgg = VGGFeatures().to(device)
    distance = as_distance(vgg)
    failed = []

    toy = load_checkpoint(assets_dir() / "models" / "toyfaces-64", name="toyfaces-64").to(device)
    with torch.no_grad():
        target = toy.net.synthesis(toy.mapping(toy.sample_z(2, seed=11))).clamp(-1, 1)
    cfg = ProjectionConfig(num_steps=args.steps, space="w+", preview_every=0, w_avg_samples=2000)
    failed += check("toyfaces-64", toy, target, cfg, distance)

    torch.manual_seed(256)
    ffhq = build_stylegan2(ganlab_config(256), Generator(ganlab_config(256)).state_dict(),
                           "ffhq-256-architecture").to(device)
    with torch.no_grad():
        target = ffhq.synthesize(ffhq.sample_z(1, seed=7))
    cfg = settings_config("official", num_steps=args.steps, space="w", preview_every=0)
    failed += check("ffhq-256 architecture, random weights", ffhq, target, cfg, distance)

    for line in failed:
        print("FAIL", line)
    print("OK: graph replays agree with eager steps" if not failed else f"{len(failed)} check(s) failed")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
