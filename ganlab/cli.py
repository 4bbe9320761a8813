"""`python -m ganlab ...`: a thin front end over the library. Errors print as one message, no traceback."""

from __future__ import annotations

import argparse
import errno
import os
import sys
from pathlib import Path

from ganlab.align.landmarks import BACKENDS
from ganlab.edit.interpolate import EASINGS
from ganlab.invert.methods import METHODS, SPACES
from ganlab.invert.projector import PIXEL_LOSSES, SETTINGS
from ganlab.invert.pti import PTIConfig
from ganlab.errors import GanlabError


def _parse_seeds(text: str) -> list[int]:
    """'1,2,5-7' -> [1, 2, 5, 6, 7]."""
    seeds: list[int] = []
    try:
        for part in text.split(","):
            part = part.strip()
            if "-" in part[1:]:
                lo, hi = part.split("-", 1)
                seeds += list(range(int(lo), int(hi) + 1))
            elif part:
                seeds.append(int(part))
    except ValueError:
        raise GanlabError(f"--seeds must look like '1,2,5-7', got {text!r}") from None
    if not seeds:
        raise GanlabError("--seeds is empty")
    return seeds


LAYER_NAMES = ("coarse", "middle", "fine", "all")


def _tune_runtime(args: argparse.Namespace) -> None:
    """Before any command that computes: CPU threads (--threads, else the cores other work leaves idle),
    the allocator (freed activations kept for the next step) and cuDNN's per-shape algorithm choice."""
    if args.func in (cmd_models, cmd_align):
        return
    from ganlab.runtime import tune_allocator, tune_cuda, tune_threads

    tune_threads(getattr(args, "threads", None))
    tune_allocator()
    tune_cuda()


def cmd_models(args: argparse.Namespace) -> int:
    from ganlab.models.registry import Registry, status

    registry = Registry()
    rows = [(s.id, s.kind, str(s.resolution), status(s)) for s in registry.list()]
    width = max(len(r[0]) for r in rows)
    print(f"{'model':<{width}}  kind       res   status        detail")
    for model_id, kind, res, st in rows:
        print(f"{model_id:<{width}}  {kind:<9}  {res:>4}  {st.state:<12}  {st.detail}")
    return 0


def cmd_sample(args: argparse.Namespace) -> int:
    import numpy as np
    from PIL import Image
    from tqdm import tqdm

    import ganlab
    from ganlab.models.sampling import sample_images

    from ganlab.fileio import write_atomically
    from ganlab.session import latent_to_npz_bytes

    lab = ganlab.load(args.model, args.device)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    seeds = _parse_seeds(args.seeds)
    if args.latents:  # the Session tab's samples: each latent beside its picture, for edit and interpolate
        for seed in tqdm(seeds, desc=f"sampling {lab.name}", unit="latent"):
            latent = lab.sample(seed, truncation=args.truncation, class_name=args.class_name)[0]
            latent.thumbnail = np.asarray(lab.render(latent))
            Image.fromarray(latent.thumbnail).save(out / f"seed{seed:04d}.png")
            write_atomically(out / f"seed{seed:04d}.npz", latent_to_npz_bytes(latent))
        print(f"wrote {len(seeds)} latents and their images to {out}")
        return 0
    images = sample_images(lab.model, seeds, truncation=args.truncation, class_name=args.class_name)
    for seed, picture in tqdm(images, total=len(seeds), desc=f"sampling {lab.name}", unit="img"):
        Image.fromarray(picture).save(out / f"seed{seed:04d}.png")
    print(f"wrote {len(seeds)} images to {out}")
    return 0


IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff"}


def _output_names(paths: list[Path]) -> list[str]:
    """One output folder name per input: its stem, or stem_suffix where stems collide (face.png, face.jpg),
    numbered where even those do (the same file name in two folders)."""
    stems = [p.stem for p in paths]
    names = [p.stem if stems.count(p.stem) == 1 else f"{p.stem}_{p.suffix.lstrip('.').lower()}" for p in paths]
    seen: dict[str, int] = {}
    out = []
    for name in names:
        seen[name] = seen.get(name, 0) + 1
        out.append(name if names.count(name) == 1 else f"{name}_{seen[name]}")
    return out


def _inputs(paths: list[str], in_folder, what: str) -> list[Path]:
    """Files as given, and `in_folder(folder)` (sorted) for each folder given; an empty result is an error.
    Every command takes its files and folders this way."""
    found: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            found += sorted(in_folder(path))
        elif path.exists():
            found.append(path)
        else:
            raise GanlabError(f"no such file or folder: {raw}")
    if not found:
        raise GanlabError(f"no {what} found in {', '.join(paths)}")
    return found


def _images_in(folder: Path) -> list[Path]:
    return [p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES]


def _latents_in(folder: Path) -> list[Path]:
    """Every `latent.npz` below `folder` (a `project` output), or else its .npz files."""
    return list(folder.rglob("latent.npz")) or list(folder.glob("*.npz"))


def _image_inputs(paths: list[str]) -> list[Path]:
    """Image files, and the images inside any folder given."""
    return _inputs(paths, _images_in, "images")


def cmd_align(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from ganlab.align import align_paths

    inputs = _image_inputs(args.inputs)
    failures = 0
    bar = tqdm(align_paths(inputs, Path(args.out), size=args.size, backend=args.backend), total=len(inputs),
               desc="aligning", unit="img")
    for rec in bar:
        if rec.error:
            failures += 1
            bar.write(f"skipped {rec.path.name}: {rec.error}")
        else:
            bar.set_postfix_str(f"{rec.path.name}: {len(rec.outputs)} face(s) via {rec.backend}")
    print(f"aligned {len(inputs) - failures} of {len(inputs)} images into {args.out}")
    return 0 if failures < len(inputs) else 1


def cmd_project(args: argparse.Namespace) -> int:
    import torch
    from tqdm import tqdm

    import ganlab
    from ganlab.imaging import to_uint8
    from ganlab.invert.advice import long_run_warning
    from ganlab.invert.outputs import write_projection
    from ganlab.invert.methods import default_steps, invert, result_space
    from ganlab.invert.projector import ProjectionResult, settings_config
    from ganlab.invert.targets import prepare_target

    lab = ganlab.load(args.model, args.device)
    model, model_id = lab.model, lab.name
    if "projector" not in lab.methods:
        raise GanlabError(f"{model_id} is a {lab.kind} model; projection needs a StyleGAN2 model")
    targets, skipped = [], []
    inputs = _image_inputs([args.target])
    for path, name in zip(inputs, _output_names(inputs)):
        try:
            targets.append((name, prepare_target(path, model.resolution)))
        except GanlabError as err:
            skipped.append(f"{path.name}: {err}")
    for line in skipped:
        print(f"skipped {line}", file=sys.stderr)
    if not targets:
        raise GanlabError("no usable target images")
    if lab.caveat:
        print(f"note: {lab.caveat}")
    pixel_weight = args.pixel_weight
    if pixel_weight is None and args.pixel_loss not in (None, "none"):
        pixel_weight = 1.0  # a pixel loss asked for by name, without a weight, should count
    cfg = settings_config(args.settings, num_steps=args.steps or default_steps(args.method),
                          space="w" if args.space == "w" else "w+",
                          seed=args.seed, pixel_loss=args.pixel_loss, pixel_weight=pixel_weight,
                          target_distance=args.target_distance, preview_every=args.frame_every, autocast=args.bf16)
    out = Path(args.out)
    for start in range(0, len(targets), args.batch):
        chunk = targets[start:start + args.batch]
        img = torch.cat([t.img for _, t in chunk]).to(model.device)
        run = invert(model, img, args.method, args.space, cfg)
        frames, result, warned = [], None, False
        names = ", ".join(name for name, _ in chunk)
        with tqdm(total=None, desc=f"projecting {names}", unit="step") as bar:
            for rec in run:
                if isinstance(rec, ProjectionResult):
                    result = rec
                    continue
                bar.total = rec.total
                bar.update(rec.step - bar.n)
                warning = long_run_warning(rec)
                if warning and not warned:
                    warned = True
                    tqdm.write(f"note: {warning}")
                bar.set_postfix_str(f"{rec.distance_name} {rec.losses['distance']:.4f}")
                if rec.preview is not None:
                    frames.append(rec.preview)
        targets_u8 = to_uint8(img)
        for i, (name, target) in enumerate(chunk):
            folder = write_projection(out, name, i, result, targets_u8[i], frames, model, model_id,
                                      result_space(args.method, args.space), target.notes)
            m = result.metrics[i]
            print(f"{name}: PSNR {m['psnr']:.2f} dB, SSIM {m['ssim']:.3f}, {result.distance_name} "
                  f"{m['distance']:.4f} -> {folder}" + (f" ({result.stopped})" if result.stopped else ""))
    if result is not None and not result.distance_name.startswith("LPIPS"):
        print("note: LPIPS weights were unavailable; the fallback distance (MSE + 1 - SSIM) was used")
    return 0


def _latent_inputs(paths: list[str]) -> list[Path]:
    """Latent files, and those in any folder given (`_latents_in`)."""
    return _inputs(paths, _latents_in, "latent files")


def _read_latents(lab, paths: list[str]):
    """The latents of `lab`'s model in the files and folders given (our .npz, projected_w.npz or .pt)."""
    from ganlab.session import load_latent_file

    files = _latent_inputs(paths)
    names = _output_names([f.parent if f.name == "latent.npz" else f for f in files])
    return [load_latent_file(f, lab.model, lab.name, name=name) for f, name in zip(files, names)]


def _parse_amounts(items: list[str]) -> dict[str, float]:
    """['smile=2', 'pc3=-1.5'] -> {'smile': 2.0, 'pc3': -1.5}."""
    out: dict[str, float] = {}
    for item in items:
        name, sep, value = item.rpartition("=")
        try:
            out[name.strip()] = float(value)
        except ValueError:
            name = ""
        if not sep or not name.strip():
            raise GanlabError(f"--direction takes NAME=AMOUNT (e.g. smile=2), got {item!r}")
    return out


def cmd_edit(args: argparse.Namespace) -> int:
    import ganlab
    from ganlab.edit.directions import load_directions
    from ganlab.fileio import write_folder_atomically
    from ganlab.session import latent_to_npz_bytes

    lab = ganlab.load(args.model, args.device)
    extra = load_directions(args.directions, lab.name, lab.model.w_dim) if args.directions else []
    extra = {d.name: d for d in extra}
    if args.list:
        for name, d in (extra | lab.directions).items():
            accuracy = "" if d.accuracy is None else f", accuracy {d.accuracy:.2f}"
            print(f"{name:<16} {d.source}{accuracy}")
        return 0
    if not args.latents or not (args.direction or args.text):
        raise GanlabError("give latent files or folders and at least one --direction NAME=AMOUNT (--list shows names) "
                          "or --text PHRASE")
    amounts = _parse_amounts(args.direction)
    chosen = {n: extra.get(n) or lab.find_direction(n) for n in amounts}
    unknown = [n for n, d in chosen.items() if d is None]
    if unknown:
        raise GanlabError(f"'{lab.name}' has no direction named {', '.join(unknown)}; `edit --list` shows them")
    layers = _parse_layers(args.layers)
    out = Path(args.out)
    for latent in _read_latents(lab, args.latents):
        edited = latent
        if args.text:
            with _StepBar(f"{latent.name} toward '{args.text}'") as bar:
                edited = lab.edit_text(latent, args.text, args.neutral, steps=args.text_steps,
                                       strength=args.strength, callback=bar.show)
        if amounts:
            edited = lab.edit(edited, {chosen[n]: a for n, a in amounts.items()}, layers=layers)
        before, after = lab.render(latent), lab.render(edited)

        def fill(folder: Path) -> None:
            (folder / "latent.npz").write_bytes(latent_to_npz_bytes(edited))
            before.save(folder / "original.png")
            after.save(folder / "edited.png")

        print(f"{latent.name}: {edited.source} -> {write_folder_atomically(out / latent.name, fill)}")
    return 0


def _parse_layers(text: str | None):
    """'middle' -> 'middle'; '4-8' -> (4, 8) (a half-open range); '1,3,5' -> [1, 3, 5]; None -> None."""
    if text is None or text in LAYER_NAMES:
        return text
    try:
        if "-" in text:
            start, stop = text.split("-", 1)
            return int(start), int(stop)
        return [int(i) for i in text.split(",") if i.strip()]
    except ValueError:
        raise GanlabError(f"--layers takes {', '.join(LAYER_NAMES)}, START-STOP or a list like 1,3,5; "
                          f"got {text!r}") from None


def cmd_interpolate(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    import ganlab
    from ganlab.edit.interpolate import Video

    lab = ganlab.load(args.model, args.device)
    latents = _read_latents(lab, args.latents)
    video = None
    with tqdm(total=args.frames, desc=f"rendering {len(latents)} keyframes", unit="frame") as bar:
        for rec in lab.interpolate_steps(latents, frames=args.frames, easing=args.easing, pingpong=args.pingpong,
                                         fps=args.fps, size=args.size, truncation=args.truncation):
            if isinstance(rec, Video):
                video = rec
            else:
                bar.update(rec.done - bar.n)
    print(f"wrote {video.save(args.out)} ({len(video.frames)} frames, {video.frames.shape[2]} px, {args.fps} fps)")
    return 0


def cmd_gallery(args: argparse.Namespace) -> int:
    """The Augment tab's flow: invert one image into a BigGAN model, then write the gallery of its
    augmentations (grid PNG, zip with labels.csv) and the inverted latent into one output folder."""
    from tqdm import tqdm

    import ganlab
    from ganlab.augment.gallery import parse_magnitudes
    from ganlab.fileio import write_folder_atomically
    from ganlab.session import latent_to_npz_bytes

    lab = ganlab.load(args.model, args.device)
    transforms = args.transforms.split(",")
    magnitudes = parse_magnitudes(args.magnitudes)
    with tqdm(total=args.steps, desc=f"inverting {Path(args.image).name}", unit="step") as bar:
        inv = lab.invert(args.image, method="random" if args.no_encoder else None, steps=args.steps,
                         cls=args.class_name, seed=args.seed, callback=lambda rec: bar.update(rec.step - bar.n))
    gallery = lab.augment(inv, transforms, magnitudes, samples=args.samples, jitter=args.jitter, seed=args.seed,
                          per_image_steps=args.per_image_steps)

    def fill(folder: Path) -> None:
        gallery.save_grid(folder / "grid.png")
        gallery.save_zip(folder / "augmentations.zip")
        (folder / "latent.npz").write_bytes(latent_to_npz_bytes(inv.latent))

    out = write_folder_atomically(Path(args.out), fill, "the gallery")
    m = inv.metrics
    print(f"inverted as {inv.latent.name}: PSNR {m['psnr']:.2f} dB, SSIM {m['ssim']:.3f}; "
          f"{len(gallery.augmentations)} augmentations -> {out}")
    for note in gallery.notes:
        print(f"note: {note}")
    return 0


def _examples(lab, paths: list[str]) -> list:
    """One group of examples: latent files (our .npz, projected_w.npz, .pt) and photos, given as files or
    folders (a folder gives its latents when it has any, else its images)."""
    from ganlab.session import load_latent_file

    files = _inputs(paths, lambda folder: _latents_in(folder) or _images_in(folder), "latent files or photos")
    return [load_latent_file(f, lab.model, lab.name) if f.suffix.lower() in (".npz", ".pt") else f for f in files]


def cmd_learn_direction(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    import ganlab

    lab = ganlab.load(args.model, args.device)
    pos, neg = _examples(lab, args.with_attribute), _examples(lab, args.without)
    photos = sum(isinstance(x, Path) for x in pos + neg)
    with tqdm(total=None, desc=f"inverting {photos} photos ({args.invert_method})", unit="step",
              disable=not photos) as bar:
        direction = lab.learn_direction(pos, neg, args.name, keep=args.keep or (), invert_method=args.invert_method,
                                        callback=lambda rec: bar.update(1))
    return _keep_direction(lab, direction, f"learned '{direction.name}': cross-validated accuracy "
                                           f"{direction.accuracy:.2f}", args)


def _keep_direction(lab, direction, found: str, args: argparse.Namespace) -> int:
    """Say what was found (and kept unchanged, and any warning), then write it to --out or the model folder."""
    from ganlab.edit.directions import save_directions

    print(found + (f", kept {', '.join(args.keep)} unchanged" if args.keep else ""))
    for warning in direction.metadata.get("warnings", []):
        print(f"warning: {warning}")
    if args.out:
        print(f"wrote {save_directions([direction], args.out)}")
    else:
        print(f"added to {lab.save_directions()}; `edit --direction '{direction.name}=2'` uses it")
    return 0


class _StepBar:
    """A tqdm bar fed by progress records (`show(rec)`: step, total, losses), for the verbs that take a callback."""

    def __init__(self, desc: str):
        from tqdm import tqdm

        self.bar = tqdm(total=None, desc=desc, unit="step")

    def show(self, rec) -> None:
        self.bar.total = rec.total
        self.bar.update(rec.step - self.bar.n)
        self.bar.set_postfix({k: f"{v:.3f}" for k, v in rec.losses.items()})

    def __enter__(self) -> "_StepBar":
        return self

    def __exit__(self, *exc) -> None:
        self.bar.close()


def cmd_text_direction(args: argparse.Namespace) -> int:
    """A direction from a phrase: scored samples + SVM, or (--trained) trained against the phrase's score."""
    import ganlab

    lab = ganlab.load(args.model, args.device)
    how = "training against" if args.trained else "scoring samples for"
    with _StepBar(f"{how} '{args.phrase}'") as bar:
        if args.trained:
            direction = lab.train_direction(args.phrase, args.name, eps=args.eps, steps=args.steps,
                                            keep=args.keep or (), callback=bar.show)
        else:
            direction = lab.direction_from_text(args.phrase, args.neutral, name=args.name, samples=args.samples,
                                                keep=args.keep or (), callback=bar.show)
    found = ("trained" if args.trained else
             f"from {direction.metadata['samples']} samples, cross-validated accuracy {direction.accuracy:.2f}")
    return _keep_direction(lab, direction, f"'{direction.name}': {found} ({lab.text_model_name} reads the pictures)",
                           args)


def cmd_generate(args: argparse.Namespace) -> int:
    """Pictures of a prompt: the best of many samples, each optimised toward it; images, latents and a grid."""
    import numpy as np
    from PIL import Image

    import ganlab
    from ganlab.fileio import write_folder_atomically
    from ganlab.imaging import grid
    from ganlab.session import latent_to_npz_bytes

    lab = ganlab.load(args.model, args.device)
    with _StepBar(f"'{args.prompt}'") as bar:
        latents = lab.generate(args.prompt, args.n, steps=args.steps, truncation=args.truncation, seed=args.seed,
                               callback=bar.show)
    pictures = lab.render(latents)

    def fill(folder: Path) -> None:
        for i, (latent, picture) in enumerate(zip(latents, pictures)):
            picture.save(folder / f"{i:02d}.png")
            (folder / f"{i:02d}.npz").write_bytes(latent_to_npz_bytes(latent))
        sheet = np.stack([np.asarray(p) for p in pictures])
        Image.fromarray(grid(sheet, cols=min(len(sheet), 6))).save(folder / "grid.png")

    print(f"{len(latents)} pictures of '{args.prompt}' -> {write_folder_atomically(Path(args.out), fill)}")
    return 0


def _show_training(records, total: int, desc: str) -> None:
    """Drive a training run with a tqdm bar of its losses (and a generator's throughput and sheets)."""
    from tqdm import tqdm

    with tqdm(total=total, desc=desc, unit="step") as bar:
        for rec in records:
            bar.n = rec.step
            shown = {k: f"{v:.3f}" for k, v in rec.losses.items()}
            bar.set_postfix(shown | ({"img/s": f"{rec.images_per_s:.1f}"} if rec.images_per_s else {}))
            if rec.sheet:
                bar.write(f"sample sheet: {rec.sheet}")


def cmd_train(args: argparse.Namespace) -> int:
    """Train a bundled demo generator (resuming), then optionally export its EMA weights to assets/models."""
    from ganlab.models.pool import default_device
    from ganlab.settings import assets_dir

    run_dir = Path(args.run_dir or f"runs/{args.model}")
    device = args.device or default_device()
    if args.model == "toyobjects-64":
        from ganlab.data.toyobjects import CLASS_NAMES
        from ganlab.train.biggan_trainer import (TOYOBJECTS_64_CONFIG, BigGANTrainConfig, export_biggan,
                                                 toyobjects_renderer, train_biggan)

        tcfg = BigGANTrainConfig(steps=args.steps, batch=args.batch, seed=args.seed)
        render = toyobjects_renderer(TOYOBJECTS_64_CONFIG.output_dim, TOYOBJECTS_64_CONFIG.num_classes)
        records = train_biggan(tcfg, render, run_dir, device=device,
                               class_names=CLASS_NAMES[:TOYOBJECTS_64_CONFIG.num_classes])
        export = export_biggan
    elif args.model == "toyfaces-64":
        from ganlab.data.toyfaces import render_faces
        from ganlab.train.stylegan2_trainer import TOYFACES_64, TrainConfig, export_ema, train_stylegan2

        tcfg = TrainConfig(steps=args.steps, batch=args.batch, seed=args.seed)
        render = lambda n, seed: render_faces(n, seed, TOYFACES_64.img_resolution)[0]  # noqa: E731
        records = train_stylegan2(TOYFACES_64, tcfg, render, run_dir, device=device)
        export = export_ema
    else:
        raise GanlabError(f"training is available for toyfaces-64 and toyobjects-64, not {args.model!r}")
    _show_training(records, tcfg.steps, f"training {args.model}")
    if args.export:
        print(f"exported the EMA generator to {export(run_dir, assets_dir() / 'models' / args.model, args.model)}")
    return 0


def cmd_train_walks(args: argparse.Namespace) -> int:
    """Train walks for a BigGAN model (further from the walks file --init, when given) and save them
    (default: walks.npz in the model's folder)."""
    import numpy as np
    from tqdm import tqdm

    import ganlab
    from ganlab.augment.transforms import EDIT_LOSS_NAME
    from ganlab.augment.walks import WalkSet, default_walks_path, load_walks, save_walks
    from ganlab.train.walks import train_walks

    lab = ganlab.load(args.model, args.device)
    if not lab.classes:
        raise GanlabError(f"{lab.name} is a {lab.kind} model; learned walks are for BigGAN models")
    transforms = args.transforms.split(",") if args.transforms else None
    out = Path(args.out) if args.out else default_walks_path(lab.model)
    start = load_walks(args.init, lab.model) if args.init else None
    result = None
    with tqdm(total=args.steps, desc=f"training walks for {lab.name}", unit="step") as bar:
        for rec in train_walks(lab.model, transforms, args.steps, args.batch, lr=args.lr, seed=args.seed,
                               per_class=not args.shared, init=start):
            if isinstance(rec, WalkSet):
                result = rec
                continue
            bar.update(rec.step - bar.n)
            bar.set_postfix_str(" ".join(f"{k} {v:.4f}" for k, v in rec.losses.items()))
    save_walks(result, out)
    for walk in result.walks.values():
        print(f"{walk.transform:<12} alpha = {walk.alpha} in {walk.alpha_range[0]:+.3f}..{walk.alpha_range[1]:+.3f}"
              f"  final {EDIT_LOSS_NAME} {walk.loss:.4f}  |w| {np.linalg.norm(walk.vector):.2f}")
    print(f"wrote {out} ({result.run['steps']} steps of batch {args.batch} in {result.run['seconds']} s)")
    return 0


def cmd_augment(args: argparse.Namespace) -> int:
    from ganlab.augment.gallery import run_augment

    transforms = args.transforms.split(",") if args.transforms else None
    return run_augment(args.folder, args.model, transforms, args.per_image, args.out, cls=args.class_name,
                       steps=args.steps, starts=args.starts, walks_path=args.walks, jitter=args.jitter,
                       truncation=args.truncation, seed=args.seed, device=args.device,
                       use_encoder=not args.no_encoder)




def cmd_batch(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from ganlab.batch import BatchJob, BatchProgress, run_batch

    def listed(text: str | None) -> tuple[str, ...]:
        return tuple(t.strip() for t in (text or "").split(",") if t.strip())

    def numbers(option: str, example: str) -> tuple[float, ...]:
        text = getattr(args, option, "")
        try:
            return tuple(float(m) for m in listed(text))
        except ValueError:
            raise GanlabError(f"--{option} takes numbers separated by commas, e.g. {example}; got {text!r}") from None

    job = BatchJob(args.model, task=args.task, method=args.method, steps=args.steps, align=args.align,
                   cls=args.class_name, transforms=listed(getattr(args, "transforms", "")),
                   directions=listed(getattr(args, "directions", "")), magnitudes=numbers("magnitudes", "-2,2"),
                   per_image_steps=getattr(args, "per_image_steps", 20), seed=args.seed,
                   identities=getattr(args, "identities", 0), toward=numbers("toward", "0.25,0.5"))
    bar = None
    for rec in run_batch(job, args.src, args.out, workers=args.workers, batch_size=args.batch_size,
                         gpus_per_worker=args.gpus_per_worker, address=args.address, device=args.device):
        if isinstance(rec, BatchProgress):
            if bar is not None and bar.desc.split()[0] != rec.phase:
                bar.close()
                bar = None
            if bar is None:  # its rate and ETA come from the records (the first one arrives after start-up)
                bar = tqdm(total=rec.total, desc=f"{rec.phase} {Path(args.src).name}", unit="img",
                           bar_format="{l_bar}{bar}| {n}/{total}{postfix}")
            bar.update(1)
            bar.set_postfix_str(f"{rec.images_per_s:.2f} img/s, about {rec.eta_s:.0f} s left, {rec.failed} failed")
            if rec.status != "ok":
                tqdm.write(f"failed: {rec.source}: {rec.message}")
            continue
        if bar is not None:
            bar.close()
        blended = f", {rec.blended} blended toward others" if rec.blended else ""
        print(f"{rec.done} images done now{blended}, {rec.done_before} before, of {rec.sources} in {args.src}; "
              f"manifest: {rec.out / 'labels.csv'}" + (f" and {rec.parquet.name}" if rec.parquet else ""))
        if rec.failed:
            print(f"{len(rec.failed)} image(s) failed (recorded with their reasons in the manifest):")
            for row in rec.failed:
                blends = " (its blends toward others)" if row["kind"] == "identities" else ""
                print(f"  {row['source']}{blends}: {row['message']}")
        return 1 if rec.failed else 0
    return 0


def cmd_train_encoder(args: argparse.Namespace) -> int:
    """Train (resuming) the model's encoder (StyleGAN2: image -> ws; BigGAN: image -> z and class), then
    optionally export it to the model's folder. Other --lr / --real-weight / --anneal to more steps is a
    new stage of the same run (e.g. a final annealed fine-tune)."""
    import ganlab
    from ganlab.models.folder import ENCODER, helper_path

    if not (args.lr > 0 and args.real_weight >= 0):
        raise GanlabError(f"--lr must be positive and --real-weight at least 0 (got {args.lr}, {args.real_weight})")
    lab = ganlab.load(args.model, args.device)
    run_dir = Path(args.run_dir or f"runs/encoder-{lab.name}")
    stage = {"steps": args.steps, "batch": args.batch, "lr": args.lr, "real_weight": args.real_weight,
             "anneal": args.anneal}
    records, export = lab.family.encoder_training(lab.model, stage, run_dir)
    _show_training(records, args.steps, f"training the encoder for {lab.name}")
    if args.export:
        print(f"exported the encoder to {export(run_dir, helper_path(lab.model, ENCODER), lab.model)}")
    return 0


def cmd_train_landscape(args: argparse.Namespace) -> int:
    """Train (resuming) the landscape map of a StyleGAN2 model, then optionally export it to its folder."""
    import ganlab
    from ganlab.models.folder import LANDSCAPE, helper_path
    from ganlab.train.landscape import LandscapeTrainConfig, export_landscape, train_landscape

    lab = ganlab.load(args.model, args.device)
    if "landscape" not in lab.methods:
        raise GanlabError(f"landscape maps are trained for StyleGAN2 models; '{lab.name}' is {lab.kind}")
    run_dir = Path(args.run_dir or f"runs/landscape-{lab.name}")
    records = train_landscape(lab.model, LandscapeTrainConfig(steps=args.steps, batch=args.batch), run_dir,
                              device=lab.model.device)
    _show_training(records, args.steps, f"training the landscape map for {lab.name}")
    if args.export:
        out = export_landscape(run_dir, helper_path(lab.model, LANDSCAPE), lab.model)
        print(f"exported the landscape map to {out}")
    return 0


def cmd_train_text(args: argparse.Namespace) -> int:
    """Train (resuming) the bundled text model a demo generator uses, then optionally export it with its
    held-out zero-shot figures."""
    from ganlab.models.registry import Registry
    from ganlab.text import TEXT_MODELS, TOYCLIP, bundled_text_folder, text_model_for

    name = text_model_for(Registry().get(args.model))
    if name != TOYCLIP:
        raise GanlabError(f"'{args.model}' uses {TEXT_MODELS.get(name, name)}, which cannot be trained here; it "
                          f"is ready to use as it is. Only the bundled {TOYCLIP} (the text model of toyfaces-64 and "
                          "toyobjects-64) trains with train-text")
    if not (args.lr > 0 and args.steps > 0 and args.batch >= 2):
        raise GanlabError(f"--lr and --steps must be positive and --batch at least 2 "
                          f"(got {args.lr}, {args.steps}, {args.batch})")
    from ganlab.eval.zero_shot import face_figures
    from ganlab.models.pool import default_device
    from ganlab.text.toyclip import ToyClip
    from ganlab.train.text import TextTrainConfig, export_text, train_text, trained_net

    device = args.device or default_device()
    run_dir = Path(args.run_dir or f"runs/{name}")
    tcfg = TextTrainConfig(steps=args.steps, batch=args.batch, lr=args.lr)
    _show_training(train_text(tcfg, run_dir, device), args.steps, f"training {name}")
    if args.export:
        figures = face_figures(ToyClip(trained_net(run_dir)[0]).to(device), device=device)
        out = export_text(run_dir, args.out or bundled_text_folder(name), figures)
        print(f"exported {name} to {out}")
        for where, accuracy in figures.items():
            print(f"held-out zero-shot accuracy, {where}: " + ", ".join(f"{k} {v:.3f}" for k, v in accuracy.items()))
    return 0


def _add_run_options(p: argparse.ArgumentParser, run_dir_help: str, export_help: str) -> None:
    """What every resumable training command takes: its run folder, export, threads and device."""
    p.add_argument("--run-dir", help=run_dir_help)
    p.add_argument("--export", action="store_true", help=export_help)
    _add_device_options(p)


def _add_device_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--threads", type=int,
                   help="torch CPU threads (default: the cores that other work leaves idle, at least 1)")
    p.add_argument("--device", help="cpu or cuda (default: cuda when present)")


class _Help(argparse.ArgumentDefaultsHelpFormatter):
    """Every option's help ends with its default, when it has one worth saying."""

    def _get_help_string(self, action: argparse.Action) -> str:
        if action.default in (None, False, argparse.SUPPRESS) or "default" in (action.help or ""):
            return action.help or ""
        return super()._get_help_string(action)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m ganlab", description="GAN inversion and latent editing lab")
    parser.add_argument("--models", action="append", default=[], metavar="FILE",
                        help="a models file (ganlab/models/data/models.json's format) that adds models or changes "
                             "their sources, e.g. a mirror; may be given more than once (also: GANLAB_MODELS)")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("models", help="list models and whether their weights are present")
    p.set_defaults(func=cmd_models)

    p = sub.add_parser("sample", help="write generated images for the given seeds")
    p.add_argument("--model", required=True, help="a model id from `models`, or a checkpoint path/URL")
    p.add_argument("--seeds", required=True, help="e.g. 1,2,3 or 0-15")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--truncation", type=float, default=1.0, help="truncation psi (1 = none)")
    p.add_argument("--class", dest="class_name", help="class name or index for BigGAN models")
    p.add_argument("--latents", action="store_true",
                   help="also write each sample's latent (seedNNNN.npz) for edit, interpolate and the app's Session")
    _add_device_options(p)
    p.set_defaults(func=cmd_sample)

    p = sub.add_parser("align", help="crop and align faces the FFHQ way")
    p.add_argument("inputs", nargs="+", help="image files or folders")
    p.add_argument("--out", required=True, help="output folder (one subfolder per image, face_0.png ...)")
    p.add_argument("--size", type=int, default=1024, help="output size in pixels")
    p.add_argument("--backend", choices=BACKENDS, default="auto", help="landmark detector")
    p.set_defaults(func=cmd_align)

    p = sub.add_parser("project", help="find the latent of an image (or of each image in a folder)")
    p.add_argument("--model", required=True, help="a StyleGAN2 model id, or a checkpoint path/URL")
    p.add_argument("--target", required=True, help="an image, or a folder of images (projected in batches)")
    p.add_argument("--method", choices=METHODS, default="projector",
                   help="projector: optimise from the mean w; fast/balanced/best: the trained encoder, then 0/100/500 "
                        "projector steps; landscape: --steps steps through the learned landscape map; pti: a pivot (the "
                        "encoder's guess refined in w+), then --steps steps tuning the generator's weights for it "
                        "(saved in latent.npz)")
    p.add_argument("--space", choices=SPACES, default="w+", help="for --method projector")
    p.add_argument("--steps", type=int,
                   help="for --method projector and landscape (default 1000), pti (its tuning steps, default "
                        f"{PTIConfig.tune_steps})")
    p.add_argument("--batch", type=int, default=8, help="images projected at once")
    p.add_argument("--settings", choices=list(SETTINGS), default="official",
                   help="projector settings: the official projector's, or ganlab's tuned ones (lr 0.2, no latent "
                        "noise, pixel MSE weight 1; benchmarks/projection.py compares them)")
    p.add_argument("--pixel-loss", choices=PIXEL_LOSSES, help="extra pixel loss (default: from --settings)")
    p.add_argument("--pixel-weight", type=float,
                   help="its weight (default: from --settings; 1 when --pixel-loss is given alone)")
    p.add_argument("--target-distance", type=float, help="stop early when every image is this close")
    p.add_argument("--bf16", action="store_true",
                   help="run the generator in bfloat16 autocast (faster on CPUs with bf16 instructions; on a GPU, "
                        "measure first: benchmarks/vs_official.py --bf16)")
    p.add_argument("--frame-every", type=int, default=10, help="steps between video frames")
    p.add_argument("--seed", type=int, default=0, help="seed of the noise and sampling (same seed, same result)")
    p.add_argument("--out", default="out/projection", help="output folder (one subfolder per image)")
    _add_device_options(p)
    p.set_defaults(func=cmd_project)

    p = sub.add_parser("edit", help="move latents along directions and render them (the Edit tab)",
                       formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("latents", nargs="*", help="latent files (.npz, projected_w.npz, .pt) or folders of them "
                                               "(a `project` output folder works)")
    p.add_argument("--model", required=True, help="the model the latents belong to (an id, a checkpoint or a folder)")
    p.add_argument("--direction", action="append", default=[], metavar="NAME=AMOUNT",
                   help="a direction and its amount in standard deviations, e.g. smile=2; repeat for more")
    p.add_argument("--layers", help="coarse, middle, fine, all, START-STOP or 1,3,5 (default: each direction's own)")
    p.add_argument("--directions", help="a directions file (from learn-direction --out) to offer besides the model's")
    p.add_argument("--list", action="store_true", help="list the model's directions and exit")
    p.add_argument("--text", help="optimise each latent toward this phrase first (StyleCLIP), e.g. 'a smiling face'")
    p.add_argument("--neutral", help="with --text: what every picture shows (default: the model's, e.g. 'a face')")
    p.add_argument("--text-steps", type=int, default=60, help="with --text: optimisation steps")
    p.add_argument("--strength", type=float, default=1.0, help="with --text: how far it may move from the latent")
    p.add_argument("--out", default="out/edit", help="output folder (one subfolder per latent)")
    _add_device_options(p)
    p.set_defaults(func=cmd_edit)

    p = sub.add_parser("text-direction", help="a slider from a phrase: score generated samples with CLIP and "
                                              "separate them (or --trained: train it against the phrase's score)",
                       formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("phrase", help="what the direction adds, e.g. 'a face with sunglasses'")
    p.add_argument("--model", required=True, help="a StyleGAN2 model id, checkpoint or folder")
    p.add_argument("--neutral", help="what every picture shows (default: the model's, e.g. 'a face')")
    p.add_argument("--name", default="", help="the direction's name (default: the phrase)")
    p.add_argument("--samples", type=int, default=1000, help="generated pictures scored")
    p.add_argument("--trained", action="store_true", help="train the direction against the phrase's score instead")
    p.add_argument("--steps", type=int, default=300, help="with --trained: training steps")
    p.add_argument("--eps", type=float, default=2.0, help="with --trained: score rise per sigma, in the score's spread")
    p.add_argument("--keep", nargs="*", help="learned directions the new one must not move (conditioning)")
    p.add_argument("--out", help="write the direction to this .npz (default: add it to the model folder's "
                                 "directions.npz)")
    _add_device_options(p)
    p.set_defaults(func=cmd_text_direction)

    p = sub.add_parser("generate", help="pictures of a text prompt (samples optimised toward it with CLIP)",
                       formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("prompt", help="what to draw, e.g. 'a bald face with a beard'")
    p.add_argument("--model", required=True, help="a StyleGAN2 model id, checkpoint or folder")
    p.add_argument("--n", type=int, default=6, help="pictures to make (1 to 64)")
    p.add_argument("--steps", type=int, default=40, help="optimisation steps")
    p.add_argument("--truncation", type=float, default=0.7, help="truncation psi of the starting samples")
    p.add_argument("--seed", type=int, default=0, help="seed of the starting samples")
    p.add_argument("--out", default="out/generate", help="output folder: 00.png, 00.npz ..., grid.png")
    _add_device_options(p)
    p.set_defaults(func=cmd_generate)

    p = sub.add_parser("interpolate", help="a morph video through two or more latents (the Interpolate tab)",
                       formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("latents", nargs="+", help="latent files or folders, in the order to visit them")
    p.add_argument("--model", required=True, help="the model the latents belong to")
    p.add_argument("--frames", type=int, default=48, help="frames in the video")
    p.add_argument("--fps", type=float, default=24, help="frames per second")
    p.add_argument("--easing", choices=list(EASINGS), default="ease-in-out", help="how each segment speeds up")
    p.add_argument("--pingpong", action="store_true", help="go there and back, so the video loops smoothly")
    p.add_argument("--size", type=int, help="frame size in px (default: the model's resolution)")
    p.add_argument("--truncation", type=float, default=1.0, help="truncation psi (1 = none)")
    p.add_argument("--out", default="out/morph.mp4", help=".mp4, .gif, or a folder for PNG frames")
    _add_device_options(p)
    p.set_defaults(func=cmd_interpolate)

    p = sub.add_parser("learn-direction", help="learn an edit direction from two groups of latents or photos "
                                               "(linear SVM)", formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--model", required=True, help="the model the latents belong to")
    p.add_argument("--with", dest="with_attribute", nargs="+", required=True,
                   help="latents or photos (files or folders) with the attribute")
    p.add_argument("--without", nargs="+", required=True, help="latents or photos (files or folders) without it")
    p.add_argument("--invert-method", choices=METHODS, default="balanced",
                   help="how photos are inverted first (align faces first for a face model)")
    p.add_argument("--name", default="my direction", help="the direction's name")
    p.add_argument("--keep", nargs="*", help="learned directions the new one must not move (conditioning)")
    p.add_argument("--out", help="write the direction to this .npz (default: add it to the model folder's "
                                 "directions.npz)")
    _add_device_options(p)
    p.set_defaults(func=cmd_learn_direction)

    p = sub.add_parser("train-walks", help="learn latent walks (zoom, slides, brightness) for a BigGAN model")
    p.add_argument("--model", required=True, help="a BigGAN model id, or a checkpoint path/URL")
    p.add_argument("--transforms", help="comma-separated, e.g. zoom,slide_left (default: all)")
    p.add_argument("--steps", type=int, default=200, help="optimisation steps")
    p.add_argument("--batch", type=int, default=8, help="latents per step")
    p.add_argument("--lr", type=float, default=0.05, help="Adam learning rate of the walk vectors")
    p.add_argument("--seed", type=int, default=0, help="seed of the sampled latents")
    p.add_argument("--out", help="walks file (default: walks.npz in the model's folder)")
    p.add_argument("--init", help="a walks file to train further instead of starting from zero")
    p.add_argument("--shared", action="store_true",
                   help="one walk for all classes (default: plus a learned offset per class); "
                        "offsets in --init walks are kept as they are")
    _add_device_options(p)
    p.set_defaults(func=cmd_train_walks)

    p = sub.add_parser("batch", help="invert or augment a folder of images at scale (resumable; Ray for several "
                                      "workers or GPUs)")
    tasks = p.add_subparsers(dest="task", required=True)
    for task, what in (("invert", "invert every image: its latent and reconstruction"),
                       ("augment", "invert every image, then write its augmentations (directions for StyleGAN2 "
                                   "models, zoom and slides for BigGAN models)")):
        t = tasks.add_parser(task, help=what, formatter_class=_Help)
        t.add_argument("src", help="a folder of images (searched recursively), or one image")
        t.add_argument("--model", required=True, help="a model id, or a checkpoint path/URL")
        t.add_argument("--out", required=True, help="output folder: one folder per image, labels.csv, manifest.parquet")
        t.add_argument("--method", help="inversion method (default: the model's; e.g. balanced, projector, encoder)")
        t.add_argument("--steps", type=int, help="inversion steps (default: the method's)")
        t.add_argument("--align", action=argparse.BooleanOptionalAction, default=None,
                       help="align the face in each photo first (default: for face models)")
        t.add_argument("--class", dest="class_name", default="auto", help="BigGAN: the images' class, or auto")
        t.add_argument("--workers", type=int, default=1, help="model copies working at once; more than 1 runs on Ray")
        t.add_argument("--batch-size", type=int, default=4, help="images per Ray task (the manifest is committed "
                                                                  "as each task's images finish)")
        t.add_argument("--gpus-per-worker", type=float, default=0.0, help="GPUs each Ray worker holds")
        t.add_argument("--address", help="an existing Ray cluster (default: a local Ray when --workers > 1)")
        t.add_argument("--seed", type=int, default=0, help="seed; each image's own seed derives from it and its name")
        t.add_argument("--device", help="cpu or cuda (default: cuda when present)")
        if task == "augment":
            t.add_argument("--directions", help="StyleGAN2: directions, comma-separated (default: the model's first 3)")
            t.add_argument("--transforms", help="BigGAN: transforms, comma-separated (default: zoom,slide_left,slide_right)")
            t.add_argument("--magnitudes", help="magnitudes, comma-separated (default: -2,2 sigma for directions, "
                                                "each transform's own for BigGAN)")
            t.add_argument("--per-image-steps", type=int, default=20,
                           help="BigGAN: optimisation steps per image for a transform without a learned walk")
            t.add_argument("--identities", type=int, default=0,
                           help="StyleGAN2: also blend each image toward this many others of the folder (chosen "
                                "from --seed; made once every image is inverted)")
            t.add_argument("--toward", help="with --identities: fractions of the way toward each, comma-separated "
                                            "(default: 0.25,0.5)")
        t.set_defaults(func=cmd_batch)

    p = sub.add_parser("augment", help="invert each image of a folder into BigGAN and write augmentations")
    p.add_argument("folder", help="folder of images to augment")
    p.add_argument("--model", required=True, help="a BigGAN model id, or a checkpoint path/URL")
    p.add_argument("--transforms", help="comma-separated: zoom,slide_left,slide_right,slide_up,slide_down,brightness")
    p.add_argument("--per-image", type=int, default=8, help="augmentations per image")
    p.add_argument("--out", required=True, help="output folder (resumable: finished images are skipped)")
    p.add_argument("--class", dest="class_name", default="auto", help="class name or index, or auto")
    p.add_argument("--steps", type=int, default=200, help="inversion steps")
    p.add_argument("--starts", type=int, default=4, help="random starts per image")
    p.add_argument("--no-encoder", action="store_true",
                   help="ignore the model's encoder (by default inversion starts from its guess of z and class)")
    p.add_argument("--walks", help="walks file (default: the model's shipped walks)")
    p.add_argument("--jitter", type=float, default=0.2, help="z jitter between samples")
    p.add_argument("--truncation", type=float, default=1.0, help="BigGAN truncation of the generator")
    p.add_argument("--seed", type=int, default=0, help="seed of the random starts and the jitter")
    _add_device_options(p)
    p.set_defaults(func=cmd_augment)

    p = sub.add_parser("gallery", help="invert one image into BigGAN and write its augmentation gallery "
                                       "(the Augment tab)")
    p.add_argument("image", help="the image to augment")
    p.add_argument("--model", required=True, help="a BigGAN model id, or a checkpoint path/URL")
    p.add_argument("--transforms", default="zoom,slide_left,slide_right",
                   help="comma-separated: zoom,slide_left,slide_right,slide_up,slide_down,brightness")
    p.add_argument("--magnitudes", default="", help="e.g. 'zoom=0.7,1.4; slide_left=0.1,0.25' (default: each "
                                                    "transformation's own)")
    p.add_argument("--samples", type=int, default=2, help="jittered samples per magnitude")
    p.add_argument("--class", dest="class_name", default="auto", help="class name or index, or auto")
    p.add_argument("--steps", type=int, default=150, help="inversion steps")
    p.add_argument("--no-encoder", action="store_true", help="start from random z instead of the encoder's guess")
    p.add_argument("--jitter", type=float, default=0.2, help="z jitter between samples")
    p.add_argument("--per-image-steps", type=int, default=60,
                   help="optimisation steps per image for a transform the model has no learned walk for")
    p.add_argument("--seed", type=int, default=0, help="seed of the inversion and the jitter")
    p.add_argument("--out", default="out/gallery", help="output folder: grid.png, augmentations.zip, latent.npz")
    _add_device_options(p)
    p.set_defaults(func=cmd_gallery)

    p = sub.add_parser("train-encoder", help="train an image -> latent encoder (StyleGAN2: ws; BigGAN: z and class)")
    p.add_argument("--model", required=True, help="a model id, or a checkpoint path/URL")
    p.add_argument("--steps", type=int, default=3000, help="total training steps (a resumed run goes on to it)")
    p.add_argument("--batch", type=int, default=16, help="images per step")
    p.add_argument("--lr", type=float, default=1e-3, help="Adam learning rate")
    p.add_argument("--real-weight", type=float, default=1.0,
                   help="weight of the rendered-image losses against the generated pairs' (default 1)")
    p.add_argument("--anneal", action="store_true",
                   help="cosine-decay the learning rate to 5%% over this run's steps (for a final fine-tune)")
    _add_run_options(p, "checkpoints (default runs/encoder-MODEL)", "write the encoder into the model's folder (encoder/)")
    p.set_defaults(func=cmd_train_encoder)

    p = sub.add_parser("train-landscape", help="learn a landscape map for fast projection (resumable)")
    p.add_argument("--model", required=True, help="a StyleGAN2 model id, or a checkpoint path/URL")
    p.add_argument("--steps", type=int, default=1500, help="total training steps (a resumed run goes on to it)")
    p.add_argument("--batch", type=int, default=8, help="targets per recorded trajectory batch")
    _add_run_options(p, "checkpoints (default runs/landscape-MODEL)", "write the map into the model's folder (landscape/)")
    p.set_defaults(func=cmd_train_landscape)

    p = sub.add_parser("train-text", help="train the bundled text model (toy CLIP) of a demo generator (resumable)")
    p.add_argument("--model", required=True, help="the generator whose text model to train: toyfaces-64 or toyobjects-64")
    p.add_argument("--steps", type=int, default=2400, help="total training steps (a resumed run goes on to it)")
    p.add_argument("--batch", type=int, default=128, help="rendered images (and captions) per step")
    p.add_argument("--lr", type=float, default=2e-3, help="AdamW learning rate, cosine-decayed over the run")
    p.add_argument("--out", help="where --export writes the model (default assets/text/TEXT_MODEL)")
    _add_run_options(p, "checkpoints (default runs/TEXT_MODEL)",
                     "write the model (safetensors + config.json with its held-out figures) after training")
    p.set_defaults(func=cmd_train_text)

    p = sub.add_parser("train", help="train a bundled demo generator (resumes from its run folder)")
    p.add_argument("--model", required=True, help="toyfaces-64 or toyobjects-64")
    p.add_argument("--steps", type=int, default=4000, help="total optimisation steps")
    p.add_argument("--batch", type=int, default=32, help="images per step")
    p.add_argument("--seed", type=int, default=0, help="seed of the initial weights and the training images")
    _add_run_options(p, "checkpoints and sample sheets (default runs/MODEL)",
                     "write the EMA generator to assets/models/MODEL")
    p.set_defaults(func=cmd_train)
    for command in sub.choices.values():
        command.formatter_class = _Help
    return parser


class _DownloadBars:
    """A tqdm bar per downloading file, drawn from the download's progress records."""

    def __init__(self) -> None:
        self.bars: dict = {}

    def __call__(self, rec) -> None:
        from tqdm import tqdm

        bar = self.bars.get(rec.file)
        if bar is None:
            bar = self.bars[rec.file] = tqdm(total=rec.total, initial=rec.done, unit="B", unit_scale=True,
                                             unit_divisor=1000, desc=f"downloading {rec.file}")
        bar.update(rec.done - bar.n)
        if rec.total is not None and rec.done >= rec.total:
            bar.close()
            del self.bars[rec.file]

    def close(self) -> None:
        for bar in self.bars.values():
            bar.close()


def main(argv: list[str] | None = None) -> int:
    from ganlab.models.download import reporting

    args = build_parser().parse_args(argv)
    if args.models:  # read by every Registry made from here on, as GANLAB_MODELS is
        os.environ["GANLAB_MODELS"] = os.pathsep.join(
            [p for p in os.environ.get("GANLAB_MODELS", "").split(os.pathsep) if p] + args.models)
    _tune_runtime(args)
    bars = _DownloadBars()
    try:
        with reporting(bars):
            return args.func(args)
    except GanlabError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except OSError as err:  # anything the commands do not handle themselves: still one line, no traceback
        if err.errno == errno.ENOSPC:
            print(f"error: the disk is full ({err.filename or 'while writing'})", file=sys.stderr)
        else:
            print(f"error: {err.strerror or err}" + (f": {err.filename}" if err.filename else ""), file=sys.stderr)
        return 2
    finally:
        bars.close()
