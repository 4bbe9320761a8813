"""Latent-space augmentations of an inverted image: galleries, a labelled grid, a zip, a folder run.

An augmentation is G(z_j + alpha * w_t, c): z_j is the inverted z, or for variety z plus a small
seeded jitter, moved along transformation t's learned walk, or, when no walk exists for t, edited by
per-image optimisation. Every image carries its labels (transformation, magnitude, seed, method), so
a folder of photos becomes a labelled training set (`run_augment`), resumable after an interruption
or a full disk.
"""

from __future__ import annotations

import csv
import errno
import io
import json
import zipfile
import zlib
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
from PIL import Image, ImageDraw, ImageFont
from tqdm import tqdm

from ganlab.augment.per_image import edit_latents
from ganlab.augment.transforms import TRANSFORMS, clamp_magnitude, spec
from ganlab.augment.walks import WalkSet, default_walks_path, load_walks
from ganlab.errors import GanlabError
from ganlab.fileio import DiskFull, write_atomically, write_png_atomically
from ganlab.imaging import grid, to_uint8
from ganlab.invert.biggan import AUTO, InversionConfig, InversionResult, invert
from ganlab.invert.object_encoder import ObjectEncoder, encoder_start, find_object_encoder
from ganlab.models.biggan import Z_BOUND, BigGANModel, find_class

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff"}
INDEX_NAME = "index.jsonl"
LABELS_NAME = "labels.csv"
LABEL_FIELDS = ["file", "source", "class", "transform", "magnitude", "seed", "method"]
MAX_MAGNITUDES = 16  # per transformation: each one renders `samples` images


@dataclass
class Augmentation:
    """One augmented image (uint8 [H, W, 3]) and its labels; `seed` None means no jitter."""

    image: np.ndarray
    transform: str
    magnitude: float
    seed: int | None
    method: str                       # 'walk' or 'per-image'

    @property
    def label(self) -> str:
        return spec(self.transform).label(self.magnitude)

    def file_name(self, index: int) -> str:
        return f"{index:03d}_{self.transform}_{self.magnitude:+.2f}.png"


@dataclass
class Gallery:
    augmentations: list[Augmentation]
    notes: list[str]                  # clamped magnitudes, per-image fallbacks
    source: str = ""                  # the image they were made from, for the labels
    class_name: str = ""

    def save_grid(self, path: str | Path, cols: int | None = None) -> Path:
        """A captioned grid PNG of every augmentation."""
        grid_png(self.augmentations, path, cols)
        return Path(path)

    def save_zip(self, path: str | Path) -> Path:
        """A zip of every augmentation as a PNG, with `labels.csv`."""
        return export_zip(self.augmentations, path, self.source, self.class_name)


def jittered(z: torch.Tensor, seed: int | None, jitter: float, truncation: float) -> torch.Tensor:
    """`z` [1, z_dim] plus `jitter` times seeded normal noise, kept in the truncation range."""
    if seed is None or jitter == 0:
        return z
    noise = torch.randn(z.shape, generator=torch.Generator().manual_seed(seed)).to(z.device, z.dtype)
    bound = Z_BOUND * truncation
    return (z + jitter * noise).clamp(-bound, bound)


def augment(model: BigGANModel, z: torch.Tensor, c: torch.Tensor, items: Sequence[tuple[str, float, int | None]],
            walks: WalkSet | None = None, jitter: float = 0.2, truncation: float = 1.0,
            per_image_steps: int = 60) -> Gallery:
    """Render (transform, magnitude, seed) `items` of the image with latent `z` [1, z_dim], class `c` [1, C]."""
    notes: list[str] = []
    moved: list[torch.Tensor | None] = [None] * len(items)
    methods = [""] * len(items)
    magnitudes = [0.0] * len(items)
    by_transform: dict[str, list[int]] = {}
    for i, (name, magnitude, _) in enumerate(items):
        clamped, note = clamp_magnitude(name, magnitude)
        magnitudes[i] = float(clamped)
        if note and note not in notes:
            notes.append(note)
        by_transform.setdefault(name, []).append(i)
    for name, rows in by_transform.items():
        base = torch.cat([jittered(z, items[i][2], jitter, truncation) for i in rows])
        mags = torch.tensor([magnitudes[i] for i in rows])
        if walks is not None and name in walks.walks:
            out, _ = walks.shifted(base, name, mags, c)
            method = "walk"
        else:
            out = edit_latents(model, base, c.expand(len(rows), -1), name, mags, per_image_steps, truncation).z
            method = "per-image"
            notes.append(f"{name}: {model.name} has no learned walk for it, so each image was edited by per-image "
                         f"optimisation ({per_image_steps} steps); `python -m ganlab train-walks --model {model.name}` "
                         "learns walks, which are faster")
        for j, i in enumerate(rows):
            moved[i], methods[i] = out[j:j + 1], method
    with torch.no_grad():
        images = to_uint8(model.synthesize(torch.cat(moved), c=c, truncation=truncation).clamp(-1, 1))
    return Gallery([Augmentation(images[i], name, magnitudes[i], seed, methods[i])
                    for i, (name, _, seed) in enumerate(items)], notes)


def gallery_items(transforms: Sequence[str], magnitudes: dict[str, Sequence[float]] | None = None,
                  samples: int = 3, seed: int = 0) -> list[tuple[str, float, int | None]]:
    """Every transform x magnitude (default: each one's gallery magnitudes) x `samples`; the first
    sample of each is the exact latent, the others are jittered with seeds seed+1, seed+2, ..."""
    magnitudes = magnitudes or {}
    if not 1 <= samples <= MAX_MAGNITUDES:
        raise GanlabError(f"samples per magnitude must be 1 to {MAX_MAGNITUDES}, not {samples}")
    for name, values in magnitudes.items():
        if len(values) > MAX_MAGNITUDES:
            raise GanlabError(f"at most {MAX_MAGNITUDES} magnitudes per transformation ({name} has {len(values)})")
    return [(name, float(m), None if k == 0 else seed + k)
            for name in transforms for m in magnitudes.get(name, spec(name).gallery) for k in range(samples)]


def parse_magnitudes(text: str) -> dict[str, list[float]] | None:
    """'zoom=0.7,1.4; slide_left=0.1,0.2' -> {...}; empty text means each transform's own gallery values
    (how the app and the CLI take magnitudes as text)."""
    if not text or not text.strip():
        return None
    if len(text) > 2000:
        raise GanlabError("the magnitudes text is too long: a few values per transformation are enough")
    out: dict[str, list[float]] = {}
    for part in text.split(";"):
        if not part.strip():
            continue
        name, _, values = part.partition("=")
        name = name.strip()
        if name not in TRANSFORMS:
            raise GanlabError(f"unknown transformation '{name}' (use one of {', '.join(TRANSFORMS)})")
        try:
            out[name] = [float(v) for v in values.split(",") if v.strip()]
        except ValueError:
            raise GanlabError(f"magnitudes for {name} must be numbers, got '{values.strip()}'") from None
    return out


def grid_png(augmentations: Sequence[Augmentation], path: str | Path | None = None, cols: int | None = None,
             tile: int = 128) -> np.ndarray:
    """A grid of the augmentations, each captioned with its transform and magnitude; written when `path`."""
    font = ImageFont.load_default()
    caption = 14
    tiles = []
    for aug in augmentations:
        canvas = Image.new("RGB", (tile, tile + caption), "white")
        canvas.paste(Image.fromarray(aug.image).resize((tile, tile), Image.NEAREST), (0, 0))
        text = aug.label + ("" if aug.seed is None else f" s{aug.seed}")
        ImageDraw.Draw(canvas).text((2, tile + 1), text, fill="black", font=font)
        tiles.append(np.asarray(canvas))
    cols = cols or max(1, min(len(tiles), int(np.ceil(np.sqrt(len(tiles))))))
    picture = grid(np.stack(tiles), cols)
    if path is not None:
        Image.fromarray(picture).save(path)
    return picture


def export_zip(augmentations: Sequence[Augmentation], path: str | Path, source: str, class_name: str) -> Path:
    """A zip with every augmentation as PNG and `labels.csv` (file, source, class, transform, magnitude, seed)."""
    path = Path(path)
    rows = []
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for i, aug in enumerate(augmentations):
            name = aug.file_name(i)
            buffer = io.BytesIO()
            Image.fromarray(aug.image).save(buffer, format="PNG")
            archive.writestr(name, buffer.getvalue())
            rows.append(_label_row(name, source, class_name, aug))
        archive.writestr(LABELS_NAME, _csv_text(rows))
    return path


def _label_row(file: str, source: str, class_name: str, aug: Augmentation) -> dict[str, str]:
    return {"file": file, "source": source, "class": class_name, "transform": aug.transform,
            "magnitude": f"{aug.magnitude:g}", "seed": "" if aug.seed is None else str(aug.seed),
            "method": aug.method}


def _csv_text(rows: list[dict[str, str]]) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=LABEL_FIELDS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue()


def folder_items(transforms: Sequence[str], per_image: int, seed: int) -> list[tuple[str, float, int | None]]:
    """`per_image` items cycling through transform x gallery magnitude: exact latents on the first
    pass, jittered ones (seeds seed, seed+1, ...) after it."""
    combos = [(name, m) for name in transforms for m in spec(name).gallery]
    return [(*combos[j % len(combos)], None if j < len(combos) else seed + j) for j in range(per_image)]


def _read_index(out: Path) -> dict[str, dict]:
    """Sources already done; a last line cut short (by a full disk) is ignored, so its source is redone."""
    done: dict[str, dict] = {}
    index = out / INDEX_NAME
    if index.is_file():
        for line in index.read_text(encoding="utf-8").splitlines():
            try:
                entry = json.loads(line)
            except json.JSONDecodeError:
                continue
            done[entry["source"]] = entry
    return done


def _append_index(out: Path, entry: dict) -> None:
    """One JSON line per finished source; starts a new line if a full disk cut the last one short."""
    index = out / INDEX_NAME
    torn = index.is_file() and index.stat().st_size > 0 and not index.read_bytes().endswith(b"\n")
    with open(index, "a", encoding="utf-8") as f:
        f.write(("\n" if torn else "") + json.dumps(entry) + "\n")


def _write_labels(out: Path, done: dict[str, dict]) -> None:
    rows = [row for entry in done.values() for row in entry["rows"]]
    write_atomically(out / LABELS_NAME, _csv_text(rows))  # never a truncated labels.csv, even on a full disk


def _list_images(folder: Path) -> list[Path]:
    if not folder.is_dir():
        raise GanlabError(f"no such folder: {folder}")
    files = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise GanlabError(f"no images in {folder} (looked for {', '.join(sorted(IMAGE_SUFFIXES))})")
    return files


def _save_source(out: Path, path: Path, result: InversionResult, gallery: Gallery) -> dict:
    """Write one source's augmentations and latent; its index entry (with its label rows)."""
    folder_name = path.name.replace(".", "_")
    folder = out / folder_name
    folder.mkdir(parents=True, exist_ok=True)
    rows = []
    for i, aug in enumerate(gallery.augmentations):
        name = aug.file_name(i)
        write_png_atomically(folder / name, aug.image)
        rows.append(_label_row(f"{folder_name}/{name}", path.name, result.class_names[0], aug))
    with open(folder / "latent.npz", "wb") as f:
        np.savez(f, z=result.z.numpy(), c=result.c.numpy(), truncation=result.truncation,
                 class_name=result.class_names[0])
    return {"source": path.name, "class": result.class_names[0], "metrics": result.metrics[0], "rows": rows}


@dataclass
class _FolderJob:
    """What every image of a folder run shares."""

    model: BigGANModel
    cls: str
    cfg: InversionConfig
    transforms: list[str]
    per_image: int
    walks: WalkSet | None
    jitter: float
    per_image_steps: int
    seed: int
    encoder: ObjectEncoder | None = None   # starts each inversion from its guess when present

    def run(self, name: str, target: torch.Tensor) -> tuple[InversionResult, Gallery]:
        """Invert one image and render its augmentations, seeded by its file name so that reruns repeat it."""
        base = (self.seed * 1_000_003 + zlib.crc32(name.encode())) % 2**31
        init = None if self.encoder is None else \
            encoder_start(self.encoder, self.model, target, self.cls, self.cfg.truncation)
        records = invert(self.model, target, self.cls, replace(self.cfg, seed=base), init=init)
        result = next(rec for rec in records if isinstance(rec, InversionResult))
        device = self.model.device
        gallery = augment(self.model, result.z.to(device), result.c.to(device),
                          folder_items(self.transforms, self.per_image, base), self.walks, self.jitter,
                          self.cfg.truncation, self.per_image_steps)
        return result, gallery


def _folder_job(model_id: str, transforms: Sequence[str] | None, per_image: int, cls: str, steps: int, starts: int,
                walks_path: str | Path | None, jitter: float, truncation: float, per_image_steps: int, seed: int,
                device: str | None, use_encoder: bool = True) -> _FolderJob:
    """Check the arguments and load the model and its walks (before anything is written)."""
    from ganlab.models.pool import default_device
    from ganlab.models.registry import Registry, load_model

    transforms = list(transforms or TRANSFORMS)
    for name in transforms:
        spec(name)
    if per_image < 1:
        raise GanlabError("per_image must be at least 1")
    registry = Registry()
    model_id = model_id if model_id in registry.specs else registry.add(model_id).id
    model = load_model(registry, model_id).to(device or default_device())
    if model.kind != "biggan":
        raise GanlabError(f"{model_id} is a {model.kind} model; augmentation needs a BigGAN model")
    if cls.strip().lower() != AUTO:
        cls = model.class_names[find_class(cls, model.class_names)]
    walks_file = Path(walks_path) if walks_path else default_walks_path(model)
    walks = load_walks(walks_file, model, own=not walks_path) if walks_path or walks_file.is_file() else None
    missing = [t for t in transforms if walks is None or t not in walks.walks]
    if missing:
        print(f"no learned walks for {', '.join(missing)} (looked in {walks_file}); "
              f"those use per-image optimisation, which is slower")
    encoder = find_object_encoder(model) if use_encoder else None
    if use_encoder and encoder is None:
        print(f"no encoder for {model_id}: inversions start from random z "
              f"(train one with `python -m ganlab train-encoder --model {model_id} --export`)")
    cfg = InversionConfig(num_steps=steps, starts=starts, truncation=truncation, preview_every=0)
    return _FolderJob(model, cls, cfg, transforms, per_image, walks, jitter, per_image_steps, seed, encoder)


def run_augment(folder: str | Path, model_id: str, transforms: Sequence[str] | None, per_image: int,
                out: str | Path, cls: str = AUTO, steps: int = 200, starts: int = 4,
                walks_path: str | Path | None = None, jitter: float = 0.2, truncation: float = 1.0,
                per_image_steps: int = 60, seed: int = 0, device: str | None = None, use_encoder: bool = True) -> int:
    """CLI `augment`: invert every image in `folder` and write `per_image` labelled augmentations of each.

    Resumable: sources listed in OUT/index.jsonl are skipped. Unreadable files are skipped and listed.
    A full disk stops the run cleanly, keeping every finished source; OUT/labels.csv lists them all.
    Returns 0, or 1 when the run stopped early or no image of the folder could be used.
    """
    from ganlab.invert.targets import prepare_target

    files = _list_images(Path(folder))
    job = _folder_job(model_id, transforms, per_image, cls, steps, starts, walks_path, jitter, truncation,
                      per_image_steps, seed, device, use_encoder)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    done = _read_index(out)
    pending = [p for p in files if p.name not in done]
    if done:
        print(f"resuming: {len(files) - len(pending)} of {len(files)} images already done in {out}")
    unreadable: list[str] = []
    stopped, written = "", 0
    with tqdm(pending, desc="augmenting", unit="img") as bar:
        for path in bar:
            try:
                target = prepare_target(path, job.model.resolution)
            except GanlabError as err:
                unreadable.append(f"{path.name}: {err}")
                continue
            result, gallery = job.run(path.name, target.img)
            try:
                entry = _save_source(out, path, result, gallery)
                _append_index(out, entry)
            except (DiskFull, OSError) as err:
                if isinstance(err, OSError) and err.errno != errno.ENOSPC:
                    raise GanlabError(f"cannot write to {out}: {err.strerror or err}") from None
                stopped = f"the disk is full: stopped at {path.name}"
                break
            done[path.name] = entry
            written += 1
            bar.set_postfix_str(f"{path.name}: {entry['class']}, PSNR {entry['metrics']['psnr']:.1f} dB")
    labels = f"labels in {out / LABELS_NAME}"
    try:
        _write_labels(out, done)
    except (GanlabError, OSError) as err:
        stopped = stopped or str(err)
        labels = f"{LABELS_NAME} was not updated (the previous one, if any, is kept whole)"
    print(f"augmented {written} images ({written * per_image} new augmentations); {len(done)} of {len(files)} "
          f"images done in {out}; {labels}")
    if unreadable:
        print(f"skipped {len(unreadable)} unreadable file(s):")
        for line in unreadable:
            print(f"  {line}")
    if stopped:
        print(f"{stopped}; everything finished so far is kept: free some space and run the same command "
              f"again to resume")
    return 1 if stopped or not done else 0
