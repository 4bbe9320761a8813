"""The Lab: one loaded generator and everything made for it, with one verb for each thing a user does.

    lab = ganlab.load("toyfaces-64")
    inv = lab.invert(face)                      # progress: callback=, or iterate lab.invert_steps(face)
    edited = lab.edit(inv.latent, {"smile": 2.0}, layers="middle")
    picture = lab.render(edited)

The app, the CLI and users' scripts all go through it; the differences between StyleGAN2 and BigGAN
live in `ganlab.lab.families`.
"""

from __future__ import annotations

import functools
import hashlib
import shutil
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping, Sequence, Union

import numpy as np
import torch
from PIL import Image

from ganlab.align.images import ImageSource
from ganlab.augment.gallery import Gallery, gallery_items
from ganlab.edit.apply import EditRenderer, Layers
from ganlab.edit.directions import (Direction, condition, ganspace, learn_direction, load_directions,
                                    sample_w, save_directions, sefa)
from ganlab.edit.interpolate import InterpolationProgress, Video, render_interpolation, resize_frames
from ganlab.errors import GanlabError
from ganlab.fileio import write_folder_atomically
from ganlab.imaging import to_uint8
from ganlab.invert.losses import Distance, lpips_distance
from ganlab.invert.projector import ProjectionStep
from ganlab.invert.targets import prepare_target
from ganlab.lab.faces import Face
from ganlab.lab.families import InvertOptions, Inverted, Magnitudes, Variant, family_of
from ganlab.lab.records import drive
from ganlab.lab.text import TextVerbs
from ganlab.models.base import GanModel, check_shape
from ganlab.models.folder import DIRECTIONS, ENCODER, GANSPACE, LANDSCAPE, SEFA, WALKS, has_helper, helper_path
from ganlab.models.registry import ModelSpec, Registry, load_model, photo_offer
from ganlab.session import StoredLatent, validate_latent
from ganlab.settings import assets_dir


@dataclass
class Prepared:
    """A target ready to invert: `img` [1, 3, R, R] in [-1, 1] at the model's resolution, the `face` it
    came from (if any) and `notes` on what was done to it (cropped, resized ...)."""

    img: torch.Tensor
    face: Face | None = None
    notes: list[str] = field(default_factory=list)


Target = Union[Face, ImageSource, torch.Tensor, Prepared]
LatentLike = Union[StoredLatent, "Inversion"]
GANSPACE_SAMPLES = 5000
COMPONENTS = 8          # GANSpace and SeFa directions offered per model
REFERENCE_SAMPLES = 2000  # sampled w that set a learned direction's slider unit
INVERT_BATCH = 8          # photos inverted at once when a direction is learned from photos


@dataclass
class Inversion:
    """An inverted image: its `latent` (stored form), the reconstruction, metrics, and the `origin` face
    (when the target was a `Face`, so `origin.paste_back(lab.render(...))` puts an edit into the photo)."""

    latent: StoredLatent
    image: Image.Image
    metrics: dict[str, float]
    origin: Face | None = None
    steps_run: int = 0
    stopped: str = ""                        # '', 'target reached', 'cancelled', or why it stopped
    history: list[dict[str, float]] = field(default_factory=list)


class Lab(TextVerbs):
    """A generator (`model`), its registry entry (`spec`, when it has one) and its helpers (in `model.folder`).
    `registry`: the list the model came from, where a demo model finds the real model it offers. The verbs
    that take words (`direction_from_text`, `edit_text`, `generate`, `train_direction`) are in `TextVerbs`."""

    def __init__(self, model: GanModel, spec: ModelSpec | None = None, registry: Registry | None = None):
        self.model = model
        self.spec = spec
        self.registry = registry
        self.family = family_of(model)
        self._computed: dict[str, list[Direction]] = {}
        self._learned: list[Direction] = []
        self._lock = threading.Lock()

    # --- what it is -------------------------------------------------------------------------------

    @property
    def name(self) -> str:
        return self.model.name

    @property
    def kind(self) -> str:
        return self.model.kind

    @property
    def resolution(self) -> int:
        return self.model.resolution

    @property
    def caveat(self) -> str:
        """What the model cannot do (e.g. a demo model that draws cartoons) and, for a demo model, the real
        model that can and what getting it takes here (its download size); '' for a model without caveat."""
        if self.spec is None or not self.spec.caveat:
            return ""
        if self.registry is None:
            self.registry = Registry()
        offer = photo_offer(self.registry, self.spec)
        return f"{self.spec.caveat} {offer}".strip()

    @property
    def classes(self) -> list[str]:
        """The class names a class-conditional model (BigGAN) draws, by index; [] for others."""
        return self.family.classes(self.model)

    @property
    def methods(self) -> tuple[str, ...]:
        """The inversion methods this model offers (`invert(method=...)`)."""
        return self.family.methods

    def __repr__(self) -> str:
        return f"Lab({self.name!r}, {self.kind}, {self.resolution} px, on {self.model.device})"

    # --- latents and pictures ---------------------------------------------------------------------

    def sample(self, seeds: int | Sequence[int], truncation: float = 1.0,
               class_name: str | int | None = None) -> list[StoredLatent]:
        """One latent per seed, drawn from the model's prior (StyleGAN2: w+; BigGAN: z and `class_name`)."""
        seeds = [seeds] if isinstance(seeds, int) else list(seeds)
        return [self.family.sample(self.model, int(seed), truncation, class_name) for seed in seeds]

    @torch.no_grad()
    def render(self, latents: LatentLike | Sequence[LatentLike], truncation: float = 1.0
               ) -> Image.Image | list[Image.Image]:
        """The picture of a latent (a list of pictures for a list of latents) at the model's resolution."""
        many = isinstance(latents, (list, tuple))
        out = [Image.fromarray(to_uint8(self.family.render(self.model, self._own(x), truncation))[0])
               for x in (latents if many else [latents])]
        return out if many else out[0]

    def edit_renderer(self, latent: LatentLike) -> EditRenderer:
        """For slider edits of one StyleGAN2 latent: each move renders only the blocks it changes."""
        self._editable()
        item = self._own(latent)
        return EditRenderer(self.model, self.model.to_ws(item.tensor, item.space), tuned=item.tuned)

    # --- inversion --------------------------------------------------------------------------------

    def invert_steps(self, targets: Target | Sequence[Target], method: str | None = None, *, space: str = "w+",
                     steps: int | None = None, settings: str = "official", cls: str | int = "auto",
                     name: str = "", preview_every: int = 10, seed: int = 0, distance: Distance | None = None,
                     cancel: threading.Event | None = None, run: Callable[..., Iterator] | None = None
                     ) -> Iterator[ProjectionStep | Inversion | list[Inversion]]:
        """`invert` as a generator: `ProjectionStep` records while it runs, then the `Inversion` (a list
        of them when `targets` is a list, projected as one batch)."""
        many = isinstance(targets, (list, tuple))
        prepared = [self.prepare(t) for t in (targets if many else [targets])]
        img = torch.cat([p.img for p in prepared]).to(self.model.device)
        opts = InvertOptions(method or self.family.default_method, space=space, steps=steps, settings=settings,
                             cls=cls, preview_every=preview_every, seed=seed,
                             name=name or self.family.default_name)
        if run is not None:
            opts.run = run
        distance = distance or lpips_distance(self.model.device)
        for rec in self.family.invert(self.model, img, opts, distance, cancel):
            if isinstance(rec, list):
                out = [self._inversion(done, p.face) for done, p in zip(rec, prepared)]
                yield out if many else out[0]
                return
            yield rec

    def invert(self, targets: Target | Sequence[Target], method: str | None = None, *,
               callback: Callable[[ProjectionStep], Any] | None = None, **options: Any) -> Inversion | list[Inversion]:
        """Find the latent of an image: a `Face` from `ganlab.align`, an image file, a PIL image, an array,
        or `img` [1, 3, R, R] in [-1, 1]; a list of them is inverted as one batch.

        `method`: one of `self.methods` (StyleGAN2: 'projector', 'fast', 'balanced', 'best', 'landscape',
        'pti'; BigGAN: 'encoder', 'random'). With 'pti' the latent comes with its own tuned generator weights
        (`latent.tuned`), which `render`, `edit`, `interpolate` and the session's files all carry. `callback(record)` sees each progress record. Other options:
        see `invert_steps`.
        """
        return drive(self.invert_steps(targets, method, **options), callback, "the inversion ended without a result")

    # --- directions and edits ---------------------------------------------------------------------

    def directions_of(self, source: str) -> list[Direction]:
        """Directions of one source: 'learned' (learned in this Lab, newest first, then those saved in the
        model's folder), 'ganspace' or 'sefa' (computed on first use)."""
        if source not in self.family.direction_sources:
            raise GanlabError(f"'{self.name}' offers directions from {list(self.family.direction_sources) or 'no source'}"
                              f", not {source!r}")
        with self._lock:
            if source not in self._computed:
                self._computed[source] = self._compute(source)
            return (self._learned if source == "learned" else []) + self._computed[source]

    def _compute(self, source: str) -> list[Direction]:
        if source == "learned":
            if not has_helper(self.model, DIRECTIONS):
                return []
            return load_directions(helper_path(self.model, DIRECTIONS), self.name, self.model.w_dim, own=True)
        helper = {"ganspace": GANSPACE, "sefa": SEFA}[source]
        weights = self._weights
        if has_helper(self.model, helper):
            kept = load_directions(helper_path(self.model, helper), self.name, self.model.w_dim, own=True)
            if len(kept) == COMPONENTS and all(d.metadata.get("weights") == weights for d in kept):
                return kept
        found = (ganspace(self.model, n_samples=GANSPACE_SAMPLES, n_components=COMPONENTS) if source == "ganspace"
                 else sefa(self.model, n_components=COMPONENTS))
        for direction in found:
            direction.metadata["weights"] = weights
        self._keep_computed(helper, found)
        return found

    @functools.cached_property
    def _weights(self) -> str:
        """The model's weights fingerprint, hashed once per Lab (GANSpace and SeFa both ask; a large
        generator takes a while to hash)."""
        return weights_fingerprint(self.model)

    def _keep_computed(self, helper: str, directions: list[Direction]) -> None:
        """Save computed directions beside the weights so the next Lab of this model reads them. Not into
        the bundled models' folders (they ship as they are), and a folder that cannot be written is only
        a cache that is missed."""
        folder = getattr(self.model, "folder", None)
        if folder is None or Path(folder).resolve().is_relative_to(assets_dir().resolve()):
            return
        try:
            save_directions(directions, helper_path(self.model, helper))
        except OSError:
            pass

    @property
    def directions(self) -> dict[str, Direction]:
        """Every direction by name: learned first (a newer one hides an older one of the same name), then
        GANSpace ('pc0' ...) and SeFa ('sefa0' ...)."""
        found: dict[str, Direction] = {}
        for source in self.family.direction_sources:
            for d in self.directions_of(source):
                found.setdefault(d.name, d)
        return found

    def find_direction(self, name: str) -> Direction | None:
        """The direction `directions[name]` would give, computing a source only when the ones before it
        lack the name (a learned direction needs no GANSpace)."""
        for source in self.family.direction_sources:
            for d in self.directions_of(source):
                if d.name == name:
                    return d
        return None

    def edit(self, latent: LatentLike, amounts: Mapping[str | Direction, float], layers: Layers = None
             ) -> StoredLatent:
        """The latent moved along directions: `amounts` maps a direction (or its name in `directions`) to
        a slider value in sigma units. `layers`: 'coarse', 'middle', 'fine', 'all', (start, stop) or a
        list of ws indices; None keeps each direction's own layers."""
        self._editable()
        item = self._own(latent)
        moves = []
        for key, alpha in amounts.items():
            direction = key if isinstance(key, Direction) else self.find_direction(key)
            if direction is None:
                raise GanlabError(f"'{self.name}' has no direction named {key!r}; it has {', '.join(self.directions)}")
            if direction.model_id != self.name:
                raise GanlabError(f"direction '{direction.name}' was made for '{direction.model_id}', "
                                  f"not '{self.name}'")
            moves.append((direction, float(alpha)))
        return self.family.edit(self.model, item, moves, layers)

    def learn_direction(self, with_attribute: Sequence[LatentLike | torch.Tensor | Target],
                        without: Sequence[LatentLike | torch.Tensor | Target], name: str = "my direction",
                        keep: Sequence[str | Direction] = (), remember: bool = True, invert_method: str | None = None,
                        callback: Callable[[ProjectionStep], Any] | None = None) -> Direction:
        """A direction from two groups (a linear SVM), conditioned so that moving along it leaves the
        directions in `keep` alone. A group holds latents (or ws tensors) and/or photos (faces, files,
        images: inverted first with `invert_method`, in batches; `callback` sees their progress), e.g.
        20 photos with sunglasses and 20 without. Its cross-validated accuracy is `.accuracy`, and its
        warnings (few examples, groups not separable) are in `.metadata['warnings']`. `remember`: offer
        it in `directions` (and `save`) from now on."""
        self._editable()
        with_attribute = self._as_latents(with_attribute, invert_method, callback)
        without = self._as_latents(without, invert_method, callback)
        pos, neg = self._ws_stack(with_attribute, "with the attribute"), self._ws_stack(without, "without it")
        held = self.held_directions(keep)
        reference = sample_w(self.model, REFERENCE_SAMPLES)
        direction, _ = learn_direction(pos, neg, name, self.name, space="w+", reference=reference)
        if held:
            direction = condition(direction, held, reference=reference)
        return self._remember(direction, remember)

    def held_directions(self, keep: Sequence[str | Direction]) -> list[Direction]:
        """The learned directions a new one must leave alone, by name (the newest of a name) or as given."""
        learned = {d.name: d for d in reversed(self.directions_of("learned"))} if keep else {}
        held = []
        for item in keep:
            if isinstance(item, Direction):
                held.append(item)
            elif item in learned:
                held.append(learned[item])
            else:
                raise GanlabError(f"'{self.name}' has no learned direction named {item!r} to keep unchanged")
        return held

    def _remember(self, direction: Direction, remember: bool) -> Direction:
        """Offer `direction` among the learned ones from now on (newest first) when `remember`."""
        if remember:
            with self._lock:
                self._learned.insert(0, direction)
        return direction

    # --- videos and galleries ---------------------------------------------------------------------

    def interpolate_steps(self, latents: Sequence[LatentLike], frames: int = 48, easing: str = "ease-in-out",
                          pingpong: bool = False, fps: float = 24, size: int | None = None,
                          truncation: float = 1.0) -> Iterator[InterpolationProgress | Video]:
        """`interpolate` as a generator: a progress record per rendered batch, then the `Video`."""
        items = [self._own(x) for x in latents]
        if not 1 <= fps <= 60:
            raise GanlabError(f"fps must be 1 to 60, not {fps}")
        for rec in render_interpolation(self.model, items, frames=frames, easing=easing, pingpong=pingpong,
                                        truncation=truncation):
            yield rec
            if rec.frames is not None:
                yield Video(rec.frames if size is None else resize_frames(rec.frames, int(size)), fps)

    def interpolate(self, latents: Sequence[LatentLike], frames: int = 48, *,
                    callback: Callable[[InterpolationProgress], Any] | None = None, **options: Any) -> Video:
        """A morph through two or more latents in order (W/W+ blended linearly, BigGAN z spherically),
        with easing, an optional ping-pong loop and output `size` in px; `.save('x.mp4' | 'x.gif' | folder)`.
        Tuned weights (PTI) blend in the same proportion as their latents; an untuned latent counts as none."""
        return drive(self.interpolate_steps(latents, frames, **options), callback,
                     "the interpolation ended without a video", progress=InterpolationProgress)

    def augment(self, latent: LatentLike, transforms: Sequence[str] = ("zoom", "slide_left", "slide_right"),
                magnitudes: Mapping[str, Sequence[float]] | None = None, samples: int = 2, jitter: float = 0.2,
                truncation: float = 1.0, seed: int = 0, per_image_steps: int = 60) -> Gallery:
        """A labelled gallery of latent-space augmentations of an inverted BigGAN image: each transform at
        each magnitude (default: the transform's own), `samples` jittered copies each. A transform without
        a learned walk is made by `per_image_steps` of optimisation per image. `.save_grid(png)`,
        `.save_zip(zip)`."""
        if per_image_steps < 1:
            raise GanlabError(f"per-image steps must be at least 1, not {per_image_steps}")
        items = gallery_items(list(transforms), dict(magnitudes) if magnitudes else None, samples=samples, seed=seed)
        return self.family.augment(self.model, self._own(latent), items, jitter, truncation, per_image_steps)

    def variants(self, latent: LatentLike, names: Sequence[str] = (), magnitudes: Magnitudes = None, *,
                 seed: int = 0, per_image_steps: int = 20) -> list[Variant]:
        """Variations of one inverted image for a dataset, as its model family makes them: StyleGAN2 edits
        along directions (default: the first three, at -2 and +2 sigma), BigGAN transformations (default:
        zoom and slides at their own magnitudes). `magnitudes`: one list for every name, or per name."""
        return self.family.variants(self, self._own(latent), names, magnitudes, seed, per_image_steps)

    def check_variants(self, names: Sequence[str], cls: str = "auto") -> None:
        """Raise now what `variants` (and inverting with class `cls`) would raise for every image."""
        self.family.check_variants(self, names, cls)

    def blend(self, latent: LatentLike, toward: LatentLike, t: float) -> StoredLatent:
        """The latent a fraction `t` (0 < t < 1) of the way toward another one, e.g. another person's face:
        the frame `interpolate` would show there (ws blended linearly, tuned weights in the same
        proportion). StyleGAN2 models only (a dataset's identity variants)."""
        if not 0 < t < 1:
            raise GanlabError(f"a blend goes part of the way: 0 < t < 1, not {t:g}")
        self.check_blend()
        return self.family.blend(self.model, self._own(latent), self._own(toward), float(t))

    def check_blend(self) -> None:
        """Raise now what `blend` would raise for any two latents of this model."""
        self.family.check_blend(self.model)

    # --- the model folder -------------------------------------------------------------------------

    def save(self, folder: Path | str) -> Path:
        """Write the generator and everything made for it (encoder, landscape map, walks, learned
        directions) as one model folder that `ganlab.load(folder)` reads back."""
        learned = self._unique_learned()

        def fill(tmp: Path) -> None:
            self.model.save(tmp)
            for helper in (ENCODER, LANDSCAPE, WALKS, GANSPACE, SEFA):
                if has_helper(self.model, helper):
                    source = helper_path(self.model, helper)
                    (shutil.copytree if source.is_dir() else shutil.copy2)(source, tmp / helper)
            if learned:
                save_directions(learned, tmp / DIRECTIONS)

        return write_folder_atomically(folder, fill, "the model folder")

    def save_directions(self) -> Path:
        """Keep the learned directions in the model's own folder (its `directions.npz`), beside its weights."""
        learned = self._unique_learned()
        if not learned:
            raise GanlabError(f"'{self.name}' has no learned directions to save")
        return save_directions(learned, helper_path(self.model, DIRECTIONS))

    def _unique_learned(self) -> list[Direction]:
        """The learned directions, the newest of each name only."""
        if "learned" not in self.family.direction_sources:
            return []
        kept: dict[str, Direction] = {}
        for d in self.directions_of("learned"):
            kept.setdefault(d.name, d)
        return list(kept.values())

    # --- conversions ------------------------------------------------------------------------------

    def _own(self, latent: LatentLike) -> StoredLatent:
        """A latent of this model, its shape checked."""
        item = latent.latent if isinstance(latent, Inversion) else latent
        if not isinstance(item, StoredLatent):
            raise GanlabError(f"expected a latent (from invert, sample, edit or a session), got {type(latent).__name__}")
        if item.model_id != self.name:
            raise GanlabError(f"'{item.name}' is a latent of '{item.model_id}', not of '{self.name}'")
        validate_latent(self.model, item.space, item.tensor)
        if item.tuned is not None:
            item.tuned.check(self.model)
        return item

    def _editable(self) -> None:
        if not self.family.direction_sources:
            raise GanlabError(f"'{self.name}' is a {self.kind} model: it has no edit directions (StyleGAN2 "
                              "models do); make an augmentation gallery (zoom, slides) instead")

    def _as_latents(self, items: Sequence, method: str | None, callback) -> list:
        """`items` with every photo in it replaced by its inversion's latent (a batch at a time)."""
        def is_latent(x) -> bool:
            return isinstance(x, (StoredLatent, Inversion)) or (isinstance(x, torch.Tensor) and x.ndim == 3)

        photos = [x for x in items if not is_latent(x)]
        inverted = []
        for start in range(0, len(photos), INVERT_BATCH):
            inverted += self.invert(list(photos[start:start + INVERT_BATCH]), method, callback=callback)
        return [x for x in items if is_latent(x)] + [inv.latent for inv in inverted]

    def _ws_stack(self, latents: Sequence[LatentLike | torch.Tensor], what: str) -> torch.Tensor:
        parts = []
        for x in latents:
            if isinstance(x, torch.Tensor):
                check_shape(f"a latent {what}", x, [None, self.model.num_ws, self.model.w_dim])
                parts.append(x.float().cpu())
            else:
                item = self._own(x)
                parts.append(self.model.to_ws(item.tensor, item.space).cpu())
        if not parts:
            raise GanlabError(f"no latents {what}: give at least two")
        return torch.cat(parts)

    def prepare(self, target: Target, name: str | None = None) -> Prepared:
        """What `invert` does to a target first: a `Face`, an image file, a PIL image or an array is
        centre-cropped and resized to the model's resolution (`notes` say so); `img` [1, 3, R, R] in
        [-1, 1] is taken as it is. `name`: how messages call an image file (e.g. an upload's own name)."""
        if isinstance(target, Prepared):
            return target
        if isinstance(target, torch.Tensor):
            img = target.unsqueeze(0) if target.ndim == 3 else target
            check_shape("target", img, [1, 3, self.resolution, self.resolution])
            return Prepared(img.float())
        face = target if isinstance(target, Face) else None
        ready = prepare_target(target.image if face else target, self.resolution, name=name)
        return Prepared(ready.img, face, ready.notes)

    def _inversion(self, done: Inverted, face: Face | None) -> Inversion:
        if face is not None:
            done.latent.origin = face.origin
        return Inversion(done.latent, Image.fromarray(np.ascontiguousarray(done.image)), done.metrics, face,
                         done.steps_run, done.stopped, done.history)


def weights_fingerprint(model: GanModel) -> str:
    """A digest of the generator's weights: directions computed from other weights (a checkpoint replaced
    under the same name) are computed again rather than trusted."""
    digest = hashlib.sha256()
    for name, tensor in model.net.state_dict().items():
        digest.update(name.encode())
        digest.update(tensor.detach().to("cpu", torch.float32).contiguous().numpy().tobytes())
    return digest.hexdigest()[:16]


def load(source: str | Path, device: torch.device | str | None = None, registry: Registry | None = None) -> Lab:
    """A Lab for `source`: a model id (`python -m ganlab models` lists them), a checkpoint file (.pkl,
    .pt), a model folder, or a URL. Weights download on first use; `WeightsUnavailable` says what to do
    when they cannot. `device`: default CUDA when present."""
    from ganlab.models.pool import default_device

    registry = registry or Registry()
    source = str(source)
    spec = registry.specs.get(source) or registry.add(source)
    model = load_model(registry, spec.id).to(device or default_device())
    return Lab(model, spec, registry)
