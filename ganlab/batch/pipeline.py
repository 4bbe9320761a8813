"""A folder of images through one model: read -> (align, for face models) -> invert -> (augment) -> write.

`run_batch` yields `BatchProgress` records and ends with a `BatchSummary`. With one worker it runs in this
process; with more (or a cluster address) on Ray Data (`ganlab.batch.on_ray`), one model load per worker.
Every source image gets a folder `OUT/<name>/` (its latent, reconstruction and augmentations, each file
written whole then renamed) and rows in the manifest, committed when the source is finished, so a run
stopped at any point resumes where it was, without duplicates.
"""

from __future__ import annotations

import errno
import threading
import time
import zlib
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Iterator, Mapping, Sequence

import numpy as np

from ganlab.batch.manifest import SUMMARY, Manifest
from ganlab.errors import GanlabError
from ganlab.fileio import DiskFull, write_atomically, write_png_atomically

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff"}
TASKS = ("invert", "augment")


@dataclass(frozen=True)
class BatchJob:
    """What every image of a run gets. `transforms` (BigGAN models) or `directions` (StyleGAN2 models)
    with `magnitudes` say the variations (`Lab.variants`); empty means the model's defaults."""

    model: str
    task: str = "invert"                     # 'invert', or 'augment' (invert, then augment)
    method: str | None = None                # inversion method (default: the model's)
    steps: int | None = None                 # inversion steps (default: the method's)
    align: bool | None = None                # align faces first; None: when the model draws faces
    cls: str = "auto"                        # BigGAN: the class of the images, or 'auto'
    transforms: tuple[str, ...] = ()
    directions: tuple[str, ...] = ()
    magnitudes: tuple[float, ...] = ()
    magnitudes_for: Mapping[str, Sequence[float]] | None = None   # BigGAN: per transform, over `magnitudes`
    per_image_steps: int = 20                # BigGAN: steps of a transform without a learned walk
    seed: int = 0

    def __post_init__(self) -> None:
        if self.task not in TASKS:
            raise GanlabError(f"task must be one of {', '.join(TASKS)}, not {self.task!r}")
        object.__setattr__(self, "magnitudes", tuple(dict.fromkeys(self.magnitudes)))  # one file per magnitude


@dataclass
class BatchProgress:
    """After each finished source: counts, speed and time left."""

    done: int                    # sources finished in this run
    total: int                   # sources this run had to do (those done before are not counted)
    failed: int
    images_per_s: float
    eta_s: float
    source: str                  # the source just finished
    status: str                  # its status: 'ok' or 'failed'
    message: str = ""


@dataclass
class BatchSummary:
    out: Path
    sources: int                 # image files in the folder
    done_before: int             # already finished by an earlier run
    done: int                    # finished by this run
    failed: list[dict[str, str]] = field(default_factory=list)   # every failure on record, with its message
    parquet: Path | None = None


def list_images(src: Path | str) -> list[Path]:
    """The image files under `src` (recursively), sorted; a single file is a list of one."""
    src = Path(src)
    if src.is_file():
        return [src]
    if not src.is_dir():
        raise GanlabError(f"no such file or folder: {src}")
    files = sorted(p for p in src.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise GanlabError(f"no images in {src} (looked for {', '.join(sorted(IMAGE_SUFFIXES))})")
    return files


def source_key(src: Path, path: Path) -> str:
    """How the manifest and the output folder name a source: its path under `src`, with '/' as '__'."""
    relative = path.name if src.is_file() else path.relative_to(src).as_posix()
    return relative.replace("/", "__")


def source_seed(job: BatchJob, key: str) -> int:
    """Each source's own seed: a rerun or another worker does exactly the same to it."""
    return (job.seed * 1_000_003 + zlib.crc32(key.encode())) % 2 ** 31


class Worker:
    """One model load, then any number of sources (in this process, or as a Ray actor)."""

    def __init__(self, job: BatchJob, out: Path, device: str | None = None, lab=None):
        import ganlab

        self.job, self.out = job, Path(out)
        self.lab = lab if lab is not None else ganlab.load(job.model, device)
        self.align = job.align if job.align is not None else bool(self.lab.spec and self.lab.spec.domain == "faces")
        self._check()

    def _check(self) -> None:
        """What would fail every image fails the run, before any image."""
        self.lab.check_variants(self.job.transforms + self.job.directions if self.job.task == "augment" else (),
                                self.job.cls)

    def process(self, path: Path, key: str) -> list[dict]:
        """Every row of one source, its summary last; a failure is a summary row with its message."""
        seed = source_seed(self.job, key)
        for stale in (self.out / key).glob("*.tmp"):  # left by a process killed mid-write
            stale.unlink(missing_ok=True)
        try:
            return self._run(path, key, seed)
        except (DiskFull, MemoryError):
            raise  # the next image would fail the same way: stop, keeping what is finished
        except OSError as err:
            if err.errno == errno.ENOSPC:
                raise
            message = f"{type(err).__name__}: {err}"
        except GanlabError as err:
            message = str(err)
        except Exception as err:  # noqa: BLE001 - one image's failure (a CUDA OOM, a bad shape) is recorded
            message = f"{type(err).__name__}: {err}"
        return [dict(source=key, seed=seed, kind=SUMMARY, status="failed", message=message)]

    def _run(self, path: Path, key: str, seed: int) -> list[dict]:
        from ganlab.session import latent_to_npz_bytes

        lab, job = self.lab, self.job
        target = path
        if self.align:
            target = _largest_face(path, lab.resolution)
        inv = lab.invert(target, job.method, steps=job.steps, seed=seed, preview_every=0, cls=job.cls)
        folder = self.out / key
        label = lab.classes[int(inv.latent.c[0].argmax())] if lab.classes else key
        write_atomically(folder / "latent.npz", latent_to_npz_bytes(inv.latent))
        write_png_atomically(folder / "reconstruction.png", np.asarray(inv.image))
        method = job.method or lab.family.default_method
        m = inv.metrics
        common = dict(source=key, label=label, seed=seed, method=method)
        rows = [dict(common, file=f"{key}/reconstruction.png", kind="reconstruction", status="ok")]
        if job.task == "augment":
            rows += self._augment(inv.latent, folder, common, seed)
        rows.append(dict(common, file=f"{key}/latent.npz", kind=SUMMARY, status="ok", psnr=m.get("psnr"),
                         ssim=m.get("ssim"), distance=m.get("distance")))
        return rows

    def _augment(self, latent, folder: Path, common: dict, seed: int) -> list[dict]:
        job = self.job
        rows = []
        for v in self.lab.variants(latent, job.transforms + job.directions, job.magnitudes_for or job.magnitudes,
                                   seed=seed, per_image_steps=job.per_image_steps):
            name = f"{v.name}_{v.magnitude:+g}.png".replace(" ", "-")
            write_png_atomically(folder / name, v.image)
            rows.append(dict(common, file=f"{folder.name}/{name}", kind="augmentation", transform=v.name,
                             magnitude=v.magnitude, method=v.method, status="ok"))
        return rows


def _largest_face(path: Path, size: int):
    from ganlab.lab.faces import align_faces

    return align_faces(path, size=max(size, 256))[0]


def run_batch(job: BatchJob, src: Path | str, out: Path | str, workers: int = 1, batch_size: int = 4,
              gpus_per_worker: float = 0.0, address: str | None = None, device: str | None = None,
              lab=None, cancel: threading.Event | None = None, threads_per_worker: int | None = None
              ) -> Iterator[BatchProgress | BatchSummary]:
    """Every image under `src` that `out`'s manifest does not list as finished; one `BatchProgress` per
    finished source, then the `BatchSummary`. `workers` > 1 or an `address` runs on Ray. In-process, `lab`
    (already loaded, e.g. the app's) is used instead of loading `job.model`; `cancel` stops the run between
    two sources, keeping every finished one. `threads_per_worker`: torch threads of each Ray worker
    (default: the machine's cores shared out)."""
    src, out = Path(src), Path(out)
    if workers < 1 or batch_size < 1 or gpus_per_worker < 0:
        raise GanlabError(f"workers and batch size must be at least 1 and GPUs per worker at least 0 (got "
                          f"{workers}, {batch_size}, {gpus_per_worker:g})")
    inside = out.resolve()
    files = [p for p in list_images(src) if not p.resolve().is_relative_to(inside)]  # an --out inside src
    keys = [source_key(src, p) for p in files]
    if len(set(keys)) < len(keys):
        twins = sorted({k for k in keys if keys.count(k) > 1})
        raise GanlabError(f"two images would share an output folder ({', '.join(twins[:3])}): rename one")
    manifest = Manifest(out)
    manifest.claim(asdict(job))
    finished = manifest.done()
    pending = [(p, key) for p, key in zip(files, keys) if key not in finished]
    if not pending:
        yield BatchSummary(out, len(files), len(files), 0, manifest.failed(), manifest.write_parquet())
        return
    if workers == 1 and address is None:
        worker = Worker(job, out, device, lab)
        results = ((key, worker.process(path, key)) for path, key in pending
                   if cancel is None or not cancel.is_set())
    else:
        from ganlab.batch.on_ray import run_on_ray

        results = run_on_ray(job, out, pending, workers, batch_size, gpus_per_worker, address, device,
                             threads_per_worker)
    start, done, failed = time.monotonic(), 0, 0
    for key, rows in results:
        manifest.commit(rows)
        done += 1
        summary = rows[-1]
        failed += summary["status"] != "ok"
        rate = done / max(time.monotonic() - start, 1e-6)
        yield BatchProgress(done, len(pending), failed, rate, (len(pending) - done) / rate, key, summary["status"],
                            summary.get("message", ""))
        if cancel is not None and cancel.is_set():
            break
    yield BatchSummary(out, len(files), len(files) - len(pending), done, manifest.failed(), manifest.write_parquet())

