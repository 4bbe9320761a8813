"""What differs between generator families, behind one interface: the Lab picks a family once, by the
model's kind, and never asks again.

StyleGAN2 latents are w / w+ and are edited along directions; BigGAN latents are z plus a class vector
and are multiplied into augmentation galleries along learned walks.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator, Mapping, Sequence, Union

import numpy as np
import torch

from ganlab.augment.gallery import Gallery, augment
from ganlab.augment.walks import default_walks_path, load_walks
from ganlab.edit.apply import Layers, edit_ws
from ganlab.edit.directions import Direction
from ganlab.edit.interpolate import latent_path, weights_path
from ganlab.errors import GanlabError
from ganlab.invert.losses import Distance
from ganlab.invert.methods import METHODS, default_steps, result_space
from ganlab.invert.methods import invert as invert_stylegan2
from ganlab.invert.projector import ProjectionResult, ProjectionStep, project, settings_config
from ganlab.invert.pti import PTIResult
from ganlab.models.base import GanModel
from ganlab.models.folder import WALKS, has_helper
from ganlab.models.sampling import class_input
from ganlab.models.tuned import through
from ganlab.session import StoredLatent, validate_latent


@dataclass
class InvertOptions:
    """How to invert; each family reads what applies to it."""

    method: str
    space: str = "w+"                        # StyleGAN2 projector only: 'w', 'w+' or 'w-then-w+'
    steps: int | None = None                 # projector/landscape/BigGAN steps (None: 1000 / 300), PTI's
                                             # tuning steps (None: its own); the encoder presets have their own
    settings: str = "official"               # StyleGAN2 projector settings ('official' or 'tuned')
    cls: str | int = "auto"                  # BigGAN: the class, or 'auto' to find it
    preview_every: int = 10
    seed: int = 0
    name: str = "inversion"                  # the stored latent's name ('' for BigGAN: the class found)
    run: Callable[..., Iterator] = project   # StyleGAN2 projector runs (the app passes its chunked one)


@dataclass
class Inverted:
    """One target's outcome, before the Lab adds where the target came from."""

    latent: StoredLatent
    image: np.ndarray                        # uint8 [R, R, 3]
    metrics: dict[str, float]
    steps_run: int
    stopped: str = ""
    history: list[dict[str, float]] = field(default_factory=list)


DEFAULT_DIRECTIONS = 3                       # directions a StyleGAN2 image is varied along when none are named
DEFAULT_SIGMAS = (-2.0, 2.0)                 # and how far
DEFAULT_TRANSFORMS = ("zoom", "slide_left", "slide_right")


@dataclass
class Variant:
    """One variation of an inverted image for a dataset: uint8 [H, W, 3], what made it and how much."""

    image: np.ndarray
    name: str                                # a direction (StyleGAN2) or a transformation (BigGAN)
    magnitude: float                         # sigma units along a direction; the transformation's own unit
    method: str                              # 'direction', 'walk' or 'per-image'


Magnitudes = Union[Mapping[str, Sequence[float]], Sequence[float], None]


def _per_name(names: Sequence[str], magnitudes: Magnitudes) -> dict[str, list[float]] | None:
    """Magnitudes per name: a mapping as given, one list for every name, or None (each one's default)."""
    if magnitudes is None or isinstance(magnitudes, Mapping):
        return {k: list(v) for k, v in magnitudes.items()} if magnitudes else None
    return {name: list(magnitudes) for name in names} if len(magnitudes) else None


class StyleGAN2Family:
    kind = "stylegan2"
    methods = METHODS
    default_method = "balanced"
    default_name = "inversion"               # what an inverted latent is called unless named
    direction_sources = ("learned", "ganspace", "sefa")

    def classes(self, model: GanModel) -> list[str]:
        return []

    def encoder_training(self, model: GanModel, stage: dict, run_dir: Path) -> tuple[Iterator, Callable]:
        """(the training records of the image -> ws encoder, its exporter `(run_dir, folder, model)`)."""
        from ganlab.train.encoder import EncoderTrainConfig, export_encoder, train_encoder

        return train_encoder(model, EncoderTrainConfig(**stage), run_dir, device=model.device), export_encoder

    def invert(self, model: GanModel, img: torch.Tensor, opts: InvertOptions, distance: Distance,
               cancel: threading.Event | None) -> Iterator[ProjectionStep | list[Inverted]]:
        cfg = settings_config(opts.settings, num_steps=opts.steps or default_steps(opts.method),
                              preview_every=opts.preview_every,
                              seed=opts.seed)
        space = result_space(opts.method, opts.space)
        for rec in invert_stylegan2(model, img, opts.method, opts.space, cfg, distance=distance, cancel=cancel, run=opts.run):
            if not isinstance(rec, ProjectionResult):
                yield rec
                continue
            out = []
            for i in range(len(img)):
                tensor = rec.w[i:i + 1] if space == "w" and rec.w is not None else rec.ws[i:i + 1]
                latent = StoredLatent(opts.name, model.name, "w" if tensor.ndim == 2 else "w+", tensor,
                                      thumbnail=rec.images[i], metrics=rec.metrics[i], source=opts.name,
                                      tuned=rec.tuned[i] if isinstance(rec, PTIResult) else None)
                out.append(Inverted(latent, rec.images[i], rec.metrics[i], rec.steps_run, rec.stopped, rec.history))
            yield out

    def sample(self, model: GanModel, seed: int, truncation: float, class_name: str | int | None) -> StoredLatent:
        c = class_input(model, class_name)
        with torch.no_grad():
            ws = model.mapping(model.sample_z(1, seed=seed), c, truncation)
        return StoredLatent(f"{model.name}-seed{seed}", model.name, "w+", ws.cpu(), c=c,
                            source=f"sample seed {seed}")

    def render(self, model: GanModel, latent: StoredLatent, truncation: float) -> torch.Tensor:
        """The latent's picture, through its own tuned weights when it has them (the pooled model unchanged)."""
        return through(model, latent.tuned).synthesize(latent.tensor, space=latent.space, c=latent.c,
                                                        truncation=truncation)

    def edit(self, model: GanModel, latent: StoredLatent, moves: Sequence[tuple[Direction, float]],
             layers: Layers) -> StoredLatent:
        ws = model.to_ws(latent.tensor, latent.space).cpu()
        edited = edit_ws(ws, [d for d, _ in moves], [a for _, a in moves], layers) if moves else ws.clone()
        what = ", ".join(f"{d.name} {a:+g}" for d, a in moves) or "no change"
        return StoredLatent(f"{latent.name}-edited", latent.model_id, "w+", edited, c=latent.c,
                            source=f"edit of {latent.name} ({what})", origin=latent.origin, tuned=latent.tuned)

    def augment(self, model: GanModel, latent: StoredLatent, items, jitter: float, truncation: float,
                per_image_steps: int) -> Gallery:
        raise GanlabError(f"'{model.name}' is a StyleGAN2 model: augmentation galleries are made with BigGAN "
                          "models; edit StyleGAN2 latents along directions instead")

    def check_variants(self, lab, names: Sequence[str], cls: str) -> None:
        unknown = [n for n in names if lab.find_direction(n) is None]
        if unknown:
            raise GanlabError(f"'{lab.name}' has no direction named {', '.join(unknown)}")

    def variants(self, lab, latent: StoredLatent, names: Sequence[str], magnitudes: Magnitudes, seed: int,
                 per_image_steps: int) -> list[Variant]:
        """Edits along directions (default: the model's first three) at magnitudes (default -2, +2 sigma)."""
        names = list(names) or list(lab.directions)[:DEFAULT_DIRECTIONS]
        self.check_variants(lab, names, "")
        amounts = _per_name(names, magnitudes) or {}
        return [Variant(np.asarray(lab.render(lab.edit(latent, {name: m}))), name, float(m), "direction")
                for name in names for m in amounts.get(name, DEFAULT_SIGMAS)]


    def check_blend(self, model: GanModel) -> None:
        """Every StyleGAN2 latent blends with another of its model."""

    def blend(self, model: GanModel, latent: StoredLatent, toward: StoredLatent, t: float) -> StoredLatent:
        """`latent` the fraction `t` of the way to `toward`, as `Lab.interpolate` moves: ws linearly, tuned
        weights (PTI) in the same proportion, an untuned latent counting as none."""
        at = np.array([t])
        ws, _, _ = latent_path(model, [latent, toward], at)
        tuned = weights_path([latent, toward], at)
        return StoredLatent(f"{latent.name}-toward-{toward.name}", latent.model_id, "w+", ws.cpu(), c=latent.c,
                            source=f"{t:g} of the way from {latent.name} to {toward.name}",
                            tuned=None if tuned is None else tuned[0])


class BigGANFamily:
    kind = "biggan"
    methods = ("encoder", "random")
    default_method = "encoder"
    default_name = ""                        # '': each inverted latent is called by the class found
    direction_sources: tuple[str, ...] = ()

    def classes(self, model: GanModel) -> list[str]:
        return list(model.class_names)

    def encoder_training(self, model: GanModel, stage: dict, run_dir: Path) -> tuple[Iterator, Callable]:
        """(the training records of the image -> (z, class) encoder, its exporter)."""
        from ganlab.train.object_encoder import ObjectEncoderTrainConfig, export_object_encoder, train_object_encoder

        return (train_object_encoder(model, ObjectEncoderTrainConfig(**stage), run_dir, model.device),
                export_object_encoder)

    def invert(self, model: GanModel, img: torch.Tensor, opts: InvertOptions, distance: Distance,
               cancel: threading.Event | None) -> Iterator[ProjectionStep | list[Inverted]]:
        from ganlab.invert.biggan import InversionConfig, InversionResult, invert
        from ganlab.invert.object_encoder import encoder_start, find_object_encoder

        if opts.method not in self.methods:
            raise GanlabError(f"BigGAN inversion methods: {', '.join(self.methods)}; got {opts.method!r}")
        encoder = find_object_encoder(model) if opts.method == "encoder" else None
        init = None if encoder is None else encoder_start(encoder, model, img, opts.cls)
        cfg = InversionConfig(num_steps=opts.steps or 300, preview_every=opts.preview_every, seed=opts.seed)
        for rec in invert(model, img, opts.cls, cfg, distance=distance, cancel=cancel, init=init):
            if not isinstance(rec, InversionResult):
                if opts.method == "encoder" and encoder is None and not rec.note:
                    rec.note = f"no encoder for '{model.name}': random starts instead"
                yield rec
                continue
            yield [Inverted(StoredLatent(opts.name or rec.class_names[i], model.name, "z", rec.z[i:i + 1].cpu(),
                                         c=rec.c[i:i + 1].cpu(), thumbnail=rec.images[i], metrics=rec.metrics[i],
                                         source=f"inverted as {rec.class_names[i]}"),
                            rec.images[i], rec.metrics[i], rec.steps_run, rec.stopped, rec.history)
                   for i in range(len(img))]

    def sample(self, model: GanModel, seed: int, truncation: float, class_name: str | int | None) -> StoredLatent:
        c = class_input(model, class_name)
        z = model.sample_z(1, seed=seed, truncation=truncation)
        return StoredLatent(f"{model.name}-seed{seed}", model.name, "z", z.cpu(), c=c.cpu(),
                            source=f"sample seed {seed}, class {class_name}")

    def render(self, model: GanModel, latent: StoredLatent, truncation: float) -> torch.Tensor:
        if latent.c is None:
            raise GanlabError(f"'{latent.name}' has no class vector: a BigGAN latent needs one")
        return model.synthesize(latent.tensor, space="z", c=latent.c, truncation=truncation)

    def edit(self, model: GanModel, latent: StoredLatent, moves, layers) -> StoredLatent:
        raise GanlabError(f"'{model.name}' is a BigGAN model: it has no edit directions; make an augmentation "
                          "gallery (zoom, slides) instead")

    def augment(self, model: GanModel, latent: StoredLatent, items, jitter: float, truncation: float,
                per_image_steps: int) -> Gallery:
        if latent.c is None:
            raise GanlabError(f"'{latent.name}' has no class vector: a BigGAN latent needs one")
        walks = load_walks(default_walks_path(model), model, own=True) if has_helper(model, WALKS) else None
        z = validate_latent(model, "z", latent.tensor).to(model.device)
        gallery = augment(model, z, latent.c.to(model.device), items, walks=walks, jitter=jitter,
                          truncation=truncation, per_image_steps=per_image_steps)
        gallery.source = latent.source or latent.name
        gallery.class_name = model.class_names[int(latent.c[0].argmax())]
        return gallery

    def check_variants(self, lab, names: Sequence[str], cls: str) -> None:
        from ganlab.augment.transforms import spec
        from ganlab.models.biggan import find_class

        for name in names:
            spec(name)
        if cls.strip().lower() != "auto":
            find_class(cls, lab.classes)

    def variants(self, lab, latent: StoredLatent, names: Sequence[str], magnitudes: Magnitudes, seed: int,
                 per_image_steps: int) -> list[Variant]:
        """The transformations (default: zoom and slides) at their magnitudes, by walk or per-image edit."""
        names = list(names) or list(DEFAULT_TRANSFORMS)
        gallery = lab.augment(latent, names, _per_name(names, magnitudes), samples=1, seed=seed,
                              per_image_steps=per_image_steps)
        return [Variant(a.image, a.transform, a.magnitude, a.method) for a in gallery.augmentations]

    def check_blend(self, model: GanModel) -> None:
        raise GanlabError(f"'{model.name}' is a BigGAN model: blends toward other identities are made with "
                          "StyleGAN2 face models (a blend of two objects would mix their classes, and their "
                          "labels with them); vary objects with transformations (zoom, slides) instead")

    def blend(self, model: GanModel, latent: StoredLatent, toward: StoredLatent, t: float) -> StoredLatent:
        self.check_blend(model)


FAMILIES = {family.kind: family for family in (StyleGAN2Family(), BigGANFamily())}


def family_of(model: GanModel):
    """The family object for `model` (the one place that reads a model's kind)."""
    family = FAMILIES.get(model.kind)
    if family is None:
        raise GanlabError(f"'{model.name}' is a {model.kind!r} model, which ganlab cannot drive")
    return family
