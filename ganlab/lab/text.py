"""The Lab's verbs that take words: a slider from a phrase, an edit toward a phrase, images from a prompt,
and a direction trained against a scorer. Part of `Lab` (a mixin), kept apart because it is one topic.

    d = lab.direction_from_text("a smiling face")          # then lab.edit(latent, {d: 2})
    moved = lab.edit_text(latent, "a face with sunglasses")
    latents = lab.generate("a bald face with a beard", n=6)
"""

from __future__ import annotations

import functools
import threading
from typing import Any, Callable, Iterator, Sequence

import torch

from ganlab.edit.directions import Direction, condition, sample_w
from ganlab.edit.text import (DirectionTrainConfig, Scorer, TextEditConfig, TextEditResult, check_phrase,
                              direction_from_phrase, optimise_toward, phrase_scorer, prompt_starts, train_direction)
from ganlab.errors import GanlabError
from ganlab.invert.losses import lpips_distance
from ganlab.invert.projector import ProjectionStep
from ganlab.lab.records import drive
from ganlab.models.tuned import through
from ganlab.session import StoredLatent
from ganlab.text import TextImageModel, load_text_model, text_model_for

NEUTRAL = {"faces": "a face", "objects": "an object"}   # what every image of a domain shows
NEUTRAL_DEFAULT = "a picture"
PHRASE_SAMPLES = 1000          # generated images scored to find a phrase's direction
REFERENCE_SAMPLES = 2000


class TextVerbs:
    """Mixed into `Lab`: everything here uses its `model`, `spec`, `_own`, `_editable`, `_remember` and
    `held_directions`."""

    @functools.cached_property
    def text_model(self) -> TextImageModel:
        """The text-image model that reads this generator's pictures: the bundled toy CLIP for the demo
        models, CLIP ViT-B/32 for real ones (downloaded on first use; `WeightsUnavailable` when it cannot)."""
        return load_text_model(self.text_model_name, self.model.device)

    @property
    def text_model_name(self) -> str:
        """Which text model `text_model` is ('toyclip-64', 'clip-vit-b32')."""
        return text_model_for(self)

    @property
    def neutral_phrase(self) -> str:
        """What every picture of this model shows ('a face'): the phrase a text direction starts from."""
        return NEUTRAL.get(self.spec.domain if self.spec else "", NEUTRAL_DEFAULT)

    def phrase_scorer(self, phrase: str, neutral: str | None = None) -> Scorer:
        """How much more a picture looks like `phrase` than like `neutral` (default: `neutral_phrase`)."""
        return phrase_scorer(self.text_model, phrase, neutral or self.neutral_phrase)

    # --- a slider from a phrase -------------------------------------------------------------------

    def direction_from_text_steps(self, phrase: str, neutral: str | None = None, name: str = "",
                                  samples: int = PHRASE_SAMPLES, keep: Sequence[str | Direction] = (),
                                  remember: bool = True, seed: int = 0, cancel: threading.Event | None = None
                                  ) -> Iterator[ProjectionStep | Direction]:
        """`direction_from_text` as a generator: scoring progress, then the `Direction`."""
        self._editable()
        held = self.held_directions(keep)
        for rec in direction_from_phrase(self.model, self.text_model, phrase, neutral or self.neutral_phrase,
                                         name=name, samples=samples, seed=seed, cancel=cancel):
            if isinstance(rec, Direction):
                yield self._remember(self._conditioned(rec, held), remember)
            else:
                yield rec

    def direction_from_text(self, phrase: str, neutral: str | None = None, *,
                            callback: Callable[[ProjectionStep], Any] | None = None, **options: Any) -> Direction:
        """A slider from a phrase ("a smiling face"): `samples` generated pictures are scored by the text
        model against the phrase (minus `neutral`), and an SVM separates the best- from the worst-scoring
        quarter. `keep`: directions it must not move (conditioning). Offered in `directions` when
        `remember`. Options: see `direction_from_text_steps`."""
        return drive(self.direction_from_text_steps(phrase, neutral, **options), callback,
                     "the text direction was stopped before it had a result")

    # --- StyleCLIP: a latent toward a phrase ------------------------------------------------------

    def edit_text_steps(self, latent, phrase: str, neutral: str | None = None, steps: int = 60,
                        strength: float = 1.0, lr: float = 0.05, preview_every: int = 10,
                        identity: Callable[[torch.Tensor], torch.Tensor] | None = None, identity_weight: float = 1.0,
                        cancel: threading.Event | None = None) -> Iterator[ProjectionStep | StoredLatent]:
        """`edit_text` as a generator: a record per step (previews), then the new latent."""
        self._editable()
        item = self._own(latent)
        if not strength > 0:
            raise GanlabError(f"strength must be positive, got {strength}")
        config = TextEditConfig(steps=steps, lr=lr, l2_weight=1.0 / strength, preview_every=preview_every,
                                identity_weight=identity_weight if identity is not None else 0.0)
        generator = through(self.model, item.tuned)
        scorer = self.phrase_scorer(phrase, neutral)
        ws = self.model.to_ws(item.tensor, item.space)
        for rec in optimise_toward(generator, scorer, ws, config, identity=identity, cancel=cancel):
            if isinstance(rec, TextEditResult):
                yield StoredLatent(f"{item.name}-text", self.name, "w+", rec.ws, thumbnail=rec.images[0],
                                   metrics={"text_score": rec.scores[0], "steps": rec.steps_run},
                                   source=f"{item.name} toward '{check_phrase(phrase)}'", origin=item.origin,
                                   tuned=item.tuned)
            else:
                yield rec

    def edit_text(self, latent, phrase: str, neutral: str | None = None, *,
                  callback: Callable[[ProjectionStep], Any] | None = None, **options: Any) -> StoredLatent:
        """The latent optimised toward a phrase (StyleCLIP): the text model's similarity to `phrase` (minus
        `neutral`) rises while the latent stays close; `strength` trades the two (higher moves further).
        `identity`: a differentiable face-identity embedding of `img` (e.g. an ArcFace net), whose cosine to
        the start's is held with `identity_weight` (StyleCLIP's identity term); none ships with ganlab.
        A PTI latent keeps and renders with its tuned weights. Stop (`cancel`) keeps the steps done."""
        return drive(self.edit_text_steps(latent, phrase, neutral, **options), callback,
                     "the text edit was stopped before it had a result")

    # --- images from a prompt ---------------------------------------------------------------------

    def generate_steps(self, prompt: str, n: int = 6, steps: int = 40, candidates: int = 8,
                       truncation: float = 0.7, seed: int = 0, preview_every: int = 10,
                       cancel: threading.Event | None = None) -> Iterator[ProjectionStep | list[StoredLatent]]:
        """`generate` as a generator: a record per step (previews of all images), then the latents."""
        self._editable()
        scorer = self.phrase_scorer(prompt)
        prompt = check_phrase(prompt, "prompt")
        starts = prompt_starts(self.model, scorer, n, candidates=candidates, truncation=truncation, seed=seed)
        config = TextEditConfig(steps=steps, l2_weight=2.0, preview_every=preview_every)
        for rec in optimise_toward(self.model, scorer, starts, config, cancel=cancel):
            if isinstance(rec, TextEditResult):
                yield [StoredLatent(f"prompt-{seed}-{i}", self.name, "w+", rec.ws[i:i + 1], thumbnail=rec.images[i],
                                    metrics={"text_score": rec.scores[i]}, source=f"from the prompt '{prompt}'")
                       for i in range(len(rec.ws))]
            else:
                yield rec

    def generate(self, prompt: str, n: int = 6, *, callback: Callable[[ProjectionStep], Any] | None = None,
                 **options: Any) -> list[StoredLatent]:
        """`n` pictures of a prompt ("a bald face with a beard"): the best-scoring of `candidates` x n
        truncated samples, each then optimised toward the prompt for `steps`."""
        return drive(self.generate_steps(prompt, n, **options), callback,
                     "the prompt was stopped before it had a result")

    # --- a direction trained against a scorer -----------------------------------------------------

    def train_direction_steps(self, scorer: str | Scorer, name: str = "", eps: float = 2.0, steps: int = 300,
                              batch: int = 8, keep: Sequence[str | Direction] = (), remember: bool = True,
                              seed: int = 0, cancel: threading.Event | None = None
                              ) -> Iterator[ProjectionStep | Direction]:
        """`train_direction` as a generator: a record per step (fit, keep, real), then the `Direction`."""
        self._editable()
        held = self.held_directions(keep)
        if isinstance(scorer, str):
            name = name or check_phrase(scorer)
            scorer = self.phrase_scorer(scorer)
        if not name:
            raise GanlabError("name the direction: a scorer function has no name of its own")
        config = DirectionTrainConfig(steps=steps, batch=batch, eps=eps, seed=seed)
        for rec in train_direction(self.model, scorer, name, config, lpips_distance(self.model.device), cancel):
            if isinstance(rec, Direction):
                yield self._remember(self._conditioned(rec, held), remember)
            else:
                yield rec

    def train_direction(self, scorer: str | Scorer, name: str = "", *,
                        callback: Callable[[ProjectionStep], Any] | None = None, **options: Any) -> Direction:
        """A direction trained so that `scorer` (a phrase, scored by the text model; or any differentiable
        function of `img`, such as a judge's `scorer('smile')`) rises by `eps` of its spread per sigma along
        it, while the rest of the picture changes little and the latent stays realistic."""
        return drive(self.train_direction_steps(scorer, name, **options), callback,
                     "the direction training was stopped before it had a result")

    # --- shared -----------------------------------------------------------------------------------

    def _conditioned(self, direction: Direction, held: list[Direction]) -> Direction:
        return condition(direction, held, reference=sample_w(self.model, REFERENCE_SAMPLES)) if held else direction
