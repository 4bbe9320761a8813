"""A folder of images through one model: read -> (align, for face models) -> invert -> (augment) -> write.

`run_batch` yields `BatchProgress` records and ends with a `BatchSummary`. With one worker it runs in this
process; with more (or a cluster address) on Ray Data (`ganlab.batch.on_ray`), one model load per worker.
Every source image gets a folder `OUT/<name>/` (its latent, reconstruction and augmentations, each file
written whole then renamed) and rows in the manifest, committed when the source is finished, so a run
stopped at any point resumes where it was, without duplicates.

Blends toward other identities (`BatchJob.identities`) need the other sources' latents, so they are a
second phase, run when every source of the folder has been tried: each source inverted well is blended
toward partners drawn from its own seed over the sorted source names (never itself; one that failed to
invert is passed over for the next), each source's blends committed as a unit of their own. A source
counts as blended when its recorded partners are the ones it would be given now, so a resume redoes
only what is missing, and a source whose choice changed (a partner that inverted on a retry, images
added to the folder) is blended again.
"""

from __future__ import annotations

import contextlib
import errno
import json
import threading
import time
import zlib
from dataclasses import MISSING, asdict, dataclass, field, fields
from pathlib import Path
from typing import Generator, Iterable, Iterator, Mapping, Sequence

import numpy as np

from ganlab.batch.manifest import IDENTITIES, IDENTITY, SUMMARY, Manifest
from ganlab.errors import GanlabError
from ganlab.fileio import DiskFull, write_atomically, write_png_atomically

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff"}
TASKS = ("invert", "augment")
DEFAULT_TOWARD = (0.25, 0.5)  # how far toward each partner, when `identities` is set without `toward`
BLEND_PREFIX = "toward_"      # a blend's file: toward_<partner>_<fraction>.png in the source's folder


@dataclass(frozen=True)
class BatchJob:
    """What every image of a run gets. `transforms` (BigGAN models) or `directions` (StyleGAN2 models)
    with `magnitudes` say the variations (`Lab.variants`); empty means the model's defaults. `identities`
    (StyleGAN2, task 'augment') adds blends toward that many other images of the set, at each fraction
    of the way in `toward` (`Lab.blend`)."""

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
    identities: int = 0                      # other sources each source is blended toward (0: none)
    toward: tuple[float, ...] = ()           # fractions of the way, 0 < t < 1 (default: DEFAULT_TOWARD)

    def __post_init__(self) -> None:
        if self.task not in TASKS:
            raise GanlabError(f"task must be one of {', '.join(TASKS)}, not {self.task!r}")
        object.__setattr__(self, "magnitudes", tuple(dict.fromkeys(self.magnitudes)))  # one file per magnitude
        if self.identities < 0:
            raise GanlabError(f"identities must be at least 0, not {self.identities}")
        if self.toward and not self.identities:
            raise GanlabError("fractions toward other identities need a number of identities to blend toward")
        if self.identities and self.task != "augment":
            raise GanlabError("blends toward other identities are augmentations: use the task 'augment'")
        if any(not 0 < t < 1 for t in self.toward):
            raise GanlabError(f"fractions toward another identity lie between 0 and 1, not "
                              f"{', '.join(f'{t:g}' for t in self.toward)}")
        toward = tuple(dict.fromkeys(float(t) for t in self.toward)) or (DEFAULT_TOWARD if self.identities else ())
        object.__setattr__(self, "toward", toward)


@dataclass
class BatchProgress:
    """After each finished source of a phase: counts, speed and time left."""

    done: int                    # sources finished in this run and phase
    total: int                   # sources this run had to do in it (those done before are not counted)
    failed: int
    images_per_s: float
    eta_s: float
    source: str                  # the source just finished
    status: str                  # its status: 'ok' or 'failed'
    message: str = ""
    phase: str = "images"        # 'images' (inverted, augmented), then 'identities' (blended toward others)


@dataclass
class BatchSummary:
    out: Path
    sources: int                 # image files in the folder
    done_before: int             # already finished by an earlier run
    done: int                    # finished by this run
    failed: list[dict[str, str]] = field(default_factory=list)   # every failure on record, with its message
    parquet: Path | None = None
    blended: int = 0             # sources blended toward other identities by this run


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


def choose_partners(job: BatchJob, key: str, keys: Iterable[str], inverted: set[str]) -> tuple[list[str], list[str]]:
    """(the `job.identities` sources `key` is blended toward, those passed over on the way because they
    did not invert): the other sources, sorted, in an order drawn from `key`'s seed, so every run and
    every worker chooses the same, and a source never chooses itself."""
    others = sorted(set(keys) - {key})
    chosen: list[str] = []
    passed: list[str] = []
    for i in np.random.default_rng(source_seed(job, key)).permutation(len(others)):
        if len(chosen) == job.identities:
            break
        (chosen if others[i] in inverted else passed).append(others[i])
    return chosen, passed


def _blend_note(job: BatchJob, chosen: list[str], passed: list[str]) -> str:
    """What the summary row of a source's blends says about partners it did not get."""
    notes = [f"passed over {', '.join(passed)} (not inverted)"] if passed else []
    if len(chosen) < job.identities:
        notes.append(f"{len(chosen)} of {job.identities} partners: no more sources of the folder inverted")
    return "; ".join(notes)


def blend_name(partner: str, t: float) -> str:
    return f"{BLEND_PREFIX}{partner}_{t:g}.png"


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
        if self.job.identities:
            self.lab.check_blend()

    def process(self, item: Mapping[str, str]) -> list[dict]:
        """Every row of one unit of work, its summary last; a failure is a summary row with its message.
        A unit is a source to invert (`key`, `path`), or one to blend (`key`, `partners` as a JSON list,
        `note` for its summary)."""
        key = str(item["key"])
        seed = source_seed(self.job, key)
        for stale in (self.out / key).glob("*.tmp"):  # left by a process killed mid-write
            stale.unlink(missing_ok=True)
        blending = "partners" in item
        try:
            if blending:
                return self._blend(key, json.loads(str(item["partners"])), seed, str(item.get("note", "")))
            return self._run(Path(str(item["path"])), key, seed)
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
        return [dict(source=key, seed=seed, kind=IDENTITIES if blending else SUMMARY, status="failed",
                     message=message, identity=item.get("partners"))]

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

    def _blend(self, key: str, partners: list[str], seed: int, note: str) -> list[dict]:
        """The source's latent blended toward each partner's (read from their folders) at each fraction."""
        from ganlab.session import load_latent_file

        lab = self.lab

        def latent_of(source: str):
            return load_latent_file(self.out / source / "latent.npz", lab.model, lab.name)

        own = latent_of(key)
        common = dict(source=key, label=key, seed=seed)
        rows = []
        for partner in partners:
            other = latent_of(partner)
            for t in self.job.toward:
                name = blend_name(partner, t)
                write_png_atomically(self.out / key / name, np.asarray(lab.render(lab.blend(own, other, t))))
                rows.append(dict(common, file=f"{key}/{name}", kind=IDENTITY, transform=IDENTITY, identity=partner,
                                 magnitude=t, method="blend", status="ok"))
        rows.append(dict(common, kind=IDENTITIES, identity=json.dumps(partners), status="ok", message=note))
        return rows


def _largest_face(path: Path, size: int):
    from ganlab.lab.faces import align_faces

    return align_faces(path, size=max(size, 256))[0]


def run_batch(job: BatchJob, src: Path | str, out: Path | str, workers: int = 1, batch_size: int = 4,
              gpus_per_worker: float = 0.0, address: str | None = None, device: str | None = None,
              lab=None, cancel: threading.Event | None = None, threads_per_worker: int | None = None
              ) -> Iterator[BatchProgress | BatchSummary]:
    """Every image under `src` that `out`'s manifest does not list as finished; one `BatchProgress` per
    finished source, then (with `job.identities`) one per source blended toward others, then the
    `BatchSummary`. `workers` > 1 or an `address` runs on Ray. In-process, `lab` (already loaded, e.g.
    the app's) is used instead of loading `job.model`; `cancel` stops the run between two sources,
    keeping every finished one. `threads_per_worker`: torch threads of each Ray worker (default: the
    machine's cores shared out)."""
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
    manifest.claim(asdict(job), {f.name: f.default for f in fields(BatchJob) if f.default is not MISSING})
    finished = manifest.done()
    pending = [{"path": str(p), "key": key} for p, key in zip(files, keys) if key not in finished]
    worker: list[Worker] = []  # in-process: one model load, made when there is work
    done = blended = 0
    with contextlib.ExitStack() as session:
        def run(items: list[dict[str, str]]) -> Iterator[tuple[str, list[dict]]]:
            if workers == 1 and address is None:
                if not worker:
                    worker.append(Worker(job, out, device, lab))
                return ((item["key"], worker[0].process(item)) for item in items if not _stopped(cancel))
            from ganlab.batch.on_ray import ray_session, run_on_ray

            session.enter_context(ray_session(address))  # started by the first phase with work, for both
            return run_on_ray(job, out, items, workers, batch_size, gpus_per_worker, address, device,
                              threads_per_worker)

        if pending:
            done = yield from _commit(manifest, run(pending), len(pending), "images", cancel)
        if job.identities and not _stopped(cancel):
            items = _blends_to_make(job, keys, manifest)
            if items:
                blended = yield from _commit(manifest, run(items), len(items), "identities", cancel,
                                             after=lambda key, rows: _drop_old_blends(out / key, rows))
    yield BatchSummary(out, len(files), len(files) - len(pending), done, manifest.failed(), manifest.write_parquet(),
                       blended)


def _stopped(cancel: threading.Event | None) -> bool:
    return cancel is not None and cancel.is_set()


def _commit(manifest: Manifest, results: Iterable[tuple[str, list[dict]]], total: int, phase: str,
            cancel: threading.Event | None, after=None) -> Generator[BatchProgress, None, int]:
    """Commit each unit's rows as it comes back, with a progress record; the number committed."""
    start, done, failed = time.monotonic(), 0, 0
    for key, rows in results:
        manifest.commit(rows)
        if after is not None:
            after(key, rows)
        done += 1
        summary = rows[-1]
        failed += summary["status"] != "ok"
        rate = done / max(time.monotonic() - start, 1e-6)
        yield BatchProgress(done, total, failed, rate, (total - done) / rate, key, summary["status"],
                            summary.get("message", ""), phase)
        if _stopped(cancel):
            break
    return done


def _blends_to_make(job: BatchJob, keys: list[str], manifest: Manifest) -> list[dict[str, str]]:
    """The sources inverted well whose blends are missing, failed, or were made toward other partners
    than they would be given now."""
    inverted = manifest.done() & set(keys)
    made = manifest.blended()
    items = []
    for key in sorted(inverted):
        chosen, passed = choose_partners(job, key, keys, inverted)
        if made.get(key) != chosen:
            items.append({"key": key, "partners": json.dumps(chosen), "note": _blend_note(job, chosen, passed)})
    return items


def _drop_old_blends(folder: Path, rows: list[dict]) -> None:
    """Blends of earlier partners, once the manifest no longer lists them."""
    kept = {Path(r["file"]).name for r in rows if r.get("file")}
    for old in folder.glob(f"{BLEND_PREFIX}*.png"):
        if old.name not in kept:
            old.unlink(missing_ok=True)
