"""Wall time and peak memory of each step of the real models' flows, at their real sizes, on this machine.

The weights are the rehearsal's stand-ins (tests/realscale: random weights in the real layouts and
sizes), served by the same loopback host, so every figure is that of the real files except what depends
on the weights' values (none of these steps does). Steps:

- FFHQ-256 (NVIDIA snapshot): download + sha256, load from the cache, align a real photo, project (the
  set-up, then each step), GANSpace, SeFa, one edit, 8 interpolation frames, paste back.
- FFHQ-1024 (NVIDIA snapshot, read from disk): load, one projection step.
- BigGAN-deep-128 (two files): download + sha256, load, invert with a named class (per step), one
  per-image edit (per step).

Peak memory is the process's peak resident set during the step (Linux: VmHWM, reset before each step
through /proc/self/clear_refs), so it includes what earlier steps left loaded.

Run: PYTHONPATH=. python benchmarks/realscale.py [--photo PATH] [--skip-1024]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

import torch

from benchmarks.common import describe_machine

REPO = Path(__file__).resolve().parents[1]
GOLDEN = REPO.parent / "shared" / "golden"
PHOTO = REPO.parent / "shared" / "testdata" / "faces" / "raw" / "test_images__kate_siegel__1.jpg"
ROWS: list[tuple[str, str, float, float]] = []


def _peak_mb() -> float:
    with open("/proc/self/status") as f:
        return int(re.search(r"VmHWM:\s+(\d+)", f.read()).group(1)) / 1024


def _reset_peak() -> None:
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:  # not Linux, or not allowed: the peak is then the run's so far
        pass


@contextmanager
def step(model: str, what: str):
    """Time `what` and record the peak memory while it ran."""
    _reset_peak()
    start = time.perf_counter()
    yield
    ROWS.append((model, what, time.perf_counter() - start, _peak_mb()))
    print(f"  {model:<16} {what:<34} {ROWS[-1][2]:8.2f} s {ROWS[-1][3]:8.0f} MB", flush=True)


def _models_file(root: Path, server, names: dict[str, list[str]]) -> Path:
    from ganlab.models.download import file_sha256

    entries = [{"id": model_id, "files": [{"name": Path(n).name, "sources": [{"url": server.url(n)}],
                                          "size": (root / n).stat().st_size, "sha256": file_sha256(root / n)}
                                         for n in files]} for model_id, files in names.items()]
    path = root / "models.json"
    path.write_text(json.dumps({"format": "ganlab-models", "version": 1, "models": entries}))
    return path


def _timed_steps(model: str, records, label: str, limit: int) -> None:
    """Time each of the first `limit` records of an inversion (the first includes its set-up)."""
    from ganlab.invert.projector import ProjectionStep

    _reset_peak()
    start, n = time.perf_counter(), 0
    for rec in records:
        if not isinstance(rec, ProjectionStep):
            return
        n += 1
        ROWS.append((model, f"{label} step {rec.step}" + (" (with set-up)" if n == 1 else ""),
                     time.perf_counter() - start, _peak_mb()))
        print(f"  {model:<16} {ROWS[-1][1]:<34} {ROWS[-1][2]:8.2f} s {ROWS[-1][3]:8.0f} MB", flush=True)
        _reset_peak()
        start = time.perf_counter()
        if n >= limit:
            return


def ffhq_256(root: Path, server, photo: Path) -> None:
    import ganlab
    from ganlab.models.registry import Registry, fetch_files

    name = "FFHQ-256"
    with step(name, "download 296 MB + sha256"):
        fetch_files(Registry().get("stylegan2-ffhq-256"))
    with step(name, "load (safe unpickler)"):
        lab = ganlab.load("stylegan2-ffhq-256", device="cpu")
    with step(name, "align the photo (dlib)"):
        face = ganlab.align_faces(photo, size=256)[0]
    records = lab.invert_steps(face, method="projector", steps=4, preview_every=0)
    _timed_steps(name, records, "project", 4)
    with step(name, "GANSpace (first use)"):
        lab.directions_of("ganspace")
    with step(name, "SeFa (first use)"):
        lab.directions_of("sefa")
    latent = lab.sample(1)[0]
    with step(name, "one edit, rendered"):
        edited = lab.render(lab.edit(latent, {"pc1": 2.0}, layers="middle"))
    with step(name, "interpolate, 8 frames"):
        lab.interpolate([latent, lab.sample(2)[0]], frames=8)
    with step(name, "paste back"):
        face.paste_back(edited)
    del lab


def ffhq_1024(root: Path) -> None:
    import ganlab
    from tests.realscale import standins

    name = "FFHQ-1024"
    path = root / "ffhq.pkl"
    standins.write_nvidia_snapshot(path, standins.manifest(GOLDEN, "ffhq1024"))
    with step(name, "load (safe unpickler)"):
        lab = ganlab.load(str(path), device="cpu")
    target = lab.render(lab.sample(3)[0])
    _timed_steps(name, lab.invert_steps(target, method="projector", steps=2, preview_every=0), "project", 2)
    path.unlink()
    del lab


def biggan_deep_128(root: Path, server, photo: Path) -> None:
    import ganlab
    from ganlab.models.registry import Registry, fetch_files

    name = "BigGAN-deep-128"
    with step(name, "download 211 MB + sha256"):
        fetch_files(Registry().get("biggan-deep-128"))
    with step(name, "load"):
        lab = ganlab.load("biggan-deep-128", device="cpu")
    records = lab.invert_steps(photo, method="random", steps=3, cls="golden retriever", preview_every=0)
    _timed_steps(name, records, "invert", 3)
    latent = lab.sample(4, class_name="golden retriever")[0]
    with step(name, "per-image zoom edit, 3 steps"):
        lab.augment(latent, ["zoom"], {"zoom": [1.3]}, samples=1, per_image_steps=3)
    del lab


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--photo", type=Path, default=PHOTO, help="a real photo with a face")
    parser.add_argument("--skip-1024", action="store_true", help="leave out FFHQ-1024 (the longest)")
    args = parser.parse_args()

    from tests.realscale import standins
    from tests.realscale.host import Files, serve, stop

    print(describe_machine(torch.device("cpu")))
    from ganlab.invert.losses import lpips_distance

    with step("LPIPS", "build (or its fallback, offline)"):
        print(f"  distance: {lpips_distance('cpu').name}")
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        with step("stand-ins", "write FFHQ-256 + BigGAN-deep-128"):
            standins.write_nvidia_snapshot(root / "ffhq256.pkl", standins.manifest(GOLDEN, "ffhq256"))
            standins.write_biggan_deep(root / "bgd128")
        files = Files(root, {p.relative_to(root).as_posix(): p for p in root.rglob("*") if p.is_file()})
        server, thread = serve(files)
        os.environ.update(GANLAB_CACHE=str(root / "cache"), GANLAB_OFFLINE="0",
                          GANLAB_MODELS=str(_models_file(root, server, {
                              "stylegan2-ffhq-256": ["ffhq256.pkl"],
                              "biggan-deep-128": ["bgd128/config.json", "bgd128/pytorch_model.bin"]})))
        try:
            ffhq_256(root, server, args.photo)
            biggan_deep_128(root, server, args.photo)
            if not args.skip_1024:
                ffhq_1024(root)
        finally:
            stop(server, thread)
    print("\n| model | step | wall time (s) | peak RSS (MB) |\n|---|---|---:|---:|")
    for model, what, seconds, peak in ROWS:
        print(f"| {model} | {what} | {seconds:.2f} | {peak:.0f} |")


if __name__ == "__main__":
    main()
