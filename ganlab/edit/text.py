"""Editing by what a person says: directions from a phrase, latents optimised toward a phrase (StyleCLIP),
images from a prompt, and directions trained against a scorer (the Controllable-GANs recipe).

Everything here reads pictures through a `Scorer`: a differentiable function from `img` [N, 3, R, R] in
[-1, 1] to one number per image. A phrase becomes a scorer through a text-image model (its similarity to
the phrase minus its similarity to a neutral phrase), an attribute judge is one already. Latents are
StyleGAN2 `w` [N, w_dim] or `ws` [N, num_ws, w_dim]; the generator is never changed.
"""

from __future__ import annotations

import math
import threading
import time
from dataclasses import dataclass, field
from typing import Callable, Iterator

import numpy as np
import torch

from ganlab.edit.directions import Direction, LearnReport, learn_direction, sample_w
from ganlab.errors import GanlabError
from ganlab.imaging import to_uint8
from ganlab.invert.losses import Distance
from ganlab.invert.projector import ProjectionStep
from ganlab.models.base import check_shape
from ganlab.models.stylegan2_model import StyleGAN2Model
from ganlab.text.base import TextImageModel

Scorer = Callable[[torch.Tensor], torch.Tensor]   # img [N, 3, R, R] in [-1, 1] -> score [N], differentiable
SCORE_NAME = "score"
MAX_PHRASE = 200                                  # characters; CLIP reads 77 tokens at most anyway


def check_phrase(phrase: str, what: str = "phrase") -> str:
    """The phrase stripped; an empty or overlong one is refused with a message, not sent to a tokenizer."""
    text = " ".join(str(phrase).split())
    if not text:
        raise GanlabError(f"the {what} is empty: describe what you want, e.g. 'a smiling face'")
    if len(text) > MAX_PHRASE:
        raise GanlabError(f"the {what} has {len(text)} characters; keep it under {MAX_PHRASE}")
    return text


def phrase_scorer(text_model: TextImageModel, phrase: str, neutral: str) -> Scorer:
    """How much more an image looks like `phrase` than like `neutral` (cosine similarities, StyleCLIP's
    "target minus neutral" text direction read on the image side). The neutral phrase cancels what every
    image of the model shares (being a face), so the score follows the attribute alone."""
    phrase, neutral = check_phrase(phrase), check_phrase(neutral, "neutral phrase")
    if phrase.lower() == neutral.lower():
        raise GanlabError(f"the phrase and the neutral phrase are the same ('{phrase}'): nothing to move toward")
    with torch.no_grad():
        text = text_model.encode_text([phrase, neutral])

    def score(img: torch.Tensor) -> torch.Tensor:
        emb = text_model.encode_image(img)
        t = text.to(emb.device, emb.dtype)
        return emb @ t[0] - emb @ t[1]

    return score


@torch.no_grad()
def score_spread(model: StyleGAN2Model, scorer: Scorer, what: str, n: int = 64, seed: int = 1) -> float:
    """The standard deviation of the scores of `n` samples: the unit in which a score's rise is asked for,
    so one weight suits a judge's logits and a text model's cosines alike."""
    spread = float(scorer(model.synthesize(sample_w(model, n, seed=seed).to(model.device), space="w")).std())
    if not math.isfinite(spread) or spread < 1e-8:
        raise GanlabError(f"{what}: the scorer gives every sample the same score; there is nothing to move toward")
    return spread


def _w_spread(model: StyleGAN2Model) -> tuple[torch.Tensor, float]:
    """Mean w [1, w_dim] and E|w - mean|^2 of the model's own latents: the scale of "how far" in W."""
    mean, std = model.w_stats()
    return mean, float(std) ** 2


@torch.no_grad()
def score_samples(model: StyleGAN2Model, scorer: Scorer, n: int, seed: int = 0, batch: int = 32,
                  cancel: threading.Event | None = None) -> Iterator[ProjectionStep | tuple[torch.Tensor, np.ndarray]]:
    """Render `n` seeded samples and score them: `ProjectionStep` records (preview: the best so far),
    then (w [n, w_dim] on the CPU, scores [n]). Stops early, with what it has, when `cancel` is set."""
    if n < 8:
        raise GanlabError(f"scoring needs at least 8 samples, got {n}")
    w_all = sample_w(model, n, seed=seed)
    scores: list[np.ndarray] = []
    started = time.perf_counter()
    for first in range(0, n, batch):
        if cancel is not None and cancel.is_set():
            break
        img = model.synthesize(w_all[first:first + batch].to(model.device), space="w")
        s = scorer(img).float().cpu().numpy()
        scores.append(s)
        done = first + len(s)
        best = int(np.argmax(s))
        yield ProjectionStep(done, n, {SCORE_NAME: float(np.concatenate(scores).mean())}, SCORE_NAME,
                             (time.perf_counter() - started) / done * (n - done), preview=to_uint8(img[best:best + 1]),
                             note=f"scored {done} of {n} samples")
    got = np.concatenate(scores) if scores else np.zeros(0)
    yield w_all[:len(got)], got


def direction_from_scores(model: StyleGAN2Model, w: torch.Tensor, scores: np.ndarray, name: str,
                          top: float = 0.1, bottom: float = 0.25, reference: torch.Tensor | None = None
                          ) -> tuple[Direction, LearnReport]:
    """The boundary between the highest-scoring `top` and the lowest-scoring `bottom` share of sampled `w`
    [N, w_dim], found by the same SVM as labelled directions (its activation pattern, in sigma units of
    `reference`). The top group is the smaller: an attribute is often rare, and only the best-scoring
    samples surely show it (a quarter of faces holds every pair of glasses when sunglasses are asked for),
    while the bottom quarter surely lacks it."""
    check_shape("w", w, [len(scores), model.w_dim])
    if not (0 < top <= 0.5 and 0 < bottom <= 0.5):
        raise GanlabError(f"the top and bottom shares must be in (0, 0.5], got {top} and {bottom}")
    k_top, k_bottom = int(len(scores) * top), int(len(scores) * bottom)
    if min(k_top, k_bottom) < 2:
        raise GanlabError(f"{len(scores)} scored samples give fewer than 2 in a group (top {top}, bottom {bottom})")
    order = np.argsort(scores)
    pos, neg = w[order[-k_top:]], w[order[:k_bottom]]
    return learn_direction(pos, neg, name, model.name, space="w", reference=w if reference is None else reference)


def direction_from_phrase(model: StyleGAN2Model, text_model: TextImageModel, phrase: str, neutral: str,
                          name: str = "", samples: int = 2000, seed: int = 0,
                          cancel: threading.Event | None = None) -> Iterator[ProjectionStep | Direction]:
    """A slider from a phrase: score `samples` generated images against the phrase (minus `neutral`), then
    learn the boundary between the best- and the worst-scoring samples (`direction_from_scores`). Yields
    scoring progress, then the `Direction` (source 'text'); ends without one when cancelled."""
    scorer = phrase_scorer(text_model, phrase, neutral)
    phrase = check_phrase(phrase)
    result = None
    for rec in score_samples(model, scorer, samples, seed=seed, cancel=cancel):
        if isinstance(rec, ProjectionStep):
            yield rec
        else:
            result = rec
    if result is None or (cancel is not None and cancel.is_set()):
        return
    w, scores = result
    direction, report = direction_from_scores(model, w, scores, name or phrase)
    direction.source = "text"
    direction.metadata.update({"phrase": phrase, "neutral": check_phrase(neutral, "neutral phrase"),
                               "text_model": text_model.name, "samples": len(scores),
                               "score_spread": float(np.std(scores))})
    yield direction


@dataclass
class TextEditConfig:
    """StyleCLIP latent optimisation: `steps` of Adam on ws toward the phrase, held near the start by
    `l2_weight` x the squared move measured in the model's own W spread (1 = one typical latent's
    distance from the mean), plus `identity_weight` x (1 - cosine) of an identity embedding when one is
    given. The score counts in its own spread over samples, so a rise of 1 is one standard deviation."""

    steps: int = 60
    lr: float = 0.05
    l2_weight: float = 1.0
    identity_weight: float = 0.0
    preview_every: int = 10

    def check(self) -> None:
        if not 1 <= self.steps <= 5000:
            raise GanlabError(f"steps must be 1 to 5000, got {self.steps}")
        if not (self.lr > 0 and self.l2_weight >= 0 and self.identity_weight >= 0):
            raise GanlabError("lr must be positive and the weights at least 0")


@dataclass
class TextEditResult:
    """The optimised `ws` [N, num_ws, w_dim] (CPU), their pictures uint8 [N, R, R, 3] and each image's
    final score; `stopped` is '' or 'cancelled'."""

    ws: torch.Tensor
    images: np.ndarray
    scores: list[float]
    steps_run: int
    stopped: str = ""
    history: list[dict[str, float]] = field(default_factory=list)


def optimise_toward(model: StyleGAN2Model, scorer: Scorer, ws_start: torch.Tensor, config: TextEditConfig,
                    identity: Callable[[torch.Tensor], torch.Tensor] | None = None,
                    cancel: threading.Event | None = None) -> Iterator[ProjectionStep | TextEditResult]:
    """Move `ws_start` [N, num_ws, w_dim] so that the scorer rises, staying close (StyleCLIP's latent
    optimisation). `model` renders: pass a latent's tuned generator (`tuned.through`) to keep its PTI
    weights. Yields a record per step (with previews every `preview_every`), then the result; Stop keeps
    the steps done so far."""
    config.check()
    check_shape("ws", ws_start, [None, model.num_ws, model.w_dim])
    device = model.device
    start = ws_start.detach().to(device, torch.float32)
    _, spread = _w_spread(model)
    unit = score_spread(model, scorer, "the edit")
    ws = start.clone().requires_grad_(True)
    opt = torch.optim.Adam([ws], lr=config.lr * math.sqrt(spread / model.w_dim))
    id_start = None
    if identity is not None and config.identity_weight > 0:
        with torch.no_grad():
            id_start = identity(model.synthesize(start, space="w+"))
    history: list[dict[str, float]] = []
    started, done, stopped = time.perf_counter(), 0, ""
    for step in range(config.steps):
        if cancel is not None and cancel.is_set():
            stopped = "cancelled"
            break
        img = model.synthesize(ws, space="w+")
        score = scorer(img)
        l2 = ((ws - start) ** 2).sum(-1).mean(-1) / spread
        loss = -score / unit + config.l2_weight * l2
        terms = {SCORE_NAME: float(score.detach().mean()), "l2": float(l2.detach().mean())}
        if id_start is not None:
            id_loss = 1 - torch.nn.functional.cosine_similarity(identity(img), id_start, dim=-1)
            loss = loss + config.identity_weight * id_loss
            terms["identity"] = float(id_loss.detach().mean())
        opt.zero_grad(set_to_none=True)
        loss.sum().backward()
        opt.step()
        done = step + 1
        if not all(math.isfinite(v) for v in terms.values()):
            raise GanlabError(f"the text edit diverged at step {done}; try a lower learning rate")
        history.append(terms)
        preview = (to_uint8(img.detach()) if config.preview_every and
                   (done % config.preview_every == 0 or done == config.steps) else None)
        elapsed = time.perf_counter() - started
        yield ProjectionStep(done, config.steps, terms, SCORE_NAME, elapsed / done * (config.steps - done), preview)
    with torch.no_grad():
        final = ws.detach()
        img = model.synthesize(final, space="w+")
        scores = scorer(img).float().cpu().tolist()
    yield TextEditResult(final.cpu(), to_uint8(img), scores, done, stopped, history)


@torch.no_grad()
def prompt_starts(model: StyleGAN2Model, scorer: Scorer, n: int, candidates: int = 8, truncation: float = 0.7,
                  seed: int = 0, batch: int = 32) -> torch.Tensor:
    """ws [n, num_ws, w_dim] (CPU) to optimise toward a prompt: of `candidates` x n truncated samples, the
    `n` that already score best, so the optimisation starts near what was asked for."""
    if not 1 <= n <= 64:
        raise GanlabError(f"make 1 to 64 images at once, not {n}")
    if candidates < 1:
        raise GanlabError(f"candidates must be at least 1, got {candidates}")
    total = n * candidates
    ws = torch.cat([model.mapping(model.sample_z(min(batch, total - i), seed=seed + i), truncation=truncation).cpu()
                    for i in range(0, total, batch)])
    scores = torch.cat([scorer(model.synthesize(chunk.to(model.device), space="w+")).float().cpu()
                        for chunk in ws.split(batch)])
    return ws[torch.argsort(scores, descending=True)[:n]]


@dataclass
class DirectionTrainConfig:
    """Learning d so that the score rises by `eps` score-spreads per sigma along it (w + a sigma d, a in
    [-max_step, max_step]), while the picture changes little elsewhere (`keep_weight` x perceptual
    distance per sigma) and stays among the model's latents (`real_weight` x the rise in squared
    distance from the mean w, in spreads)."""

    steps: int = 300
    batch: int = 8
    eps: float = 2.0
    max_step: float = 3.0
    lr: float = 0.1
    keep_weight: float = 1.0
    real_weight: float = 0.1
    seed: int = 0

    def check(self) -> None:
        if not (1 <= self.steps <= 20000 and 2 <= self.batch <= 256):
            raise GanlabError("steps must be 1 to 20000 and batch 2 to 256")
        if not (self.eps > 0 and self.max_step > 0 and self.lr > 0):
            raise GanlabError("eps, max_step and lr must be positive")
        if self.keep_weight < 0 or self.real_weight < 0:
            raise GanlabError("keep_weight and real_weight must be at least 0")


def train_direction(model: StyleGAN2Model, scorer: Scorer, name: str, config: DirectionTrainConfig,
                    distance: Distance, cancel: threading.Event | None = None,
                    ) -> Iterator[ProjectionStep | Direction]:
    """A direction trained against a scorer (z' = z + d eps, after Controllable GANs, here in W): each step
    samples latents and steps of a sigma along d, and asks that score(G(w + a sigma d)) - score(G(w)) =
    eps a (in units of the score's spread over samples, measured first). Only d's direction is learned:
    its step is sigma, the spread of sampled w along it, so the trained unit is the slider's unit, as for
    every direction. Yields a record per step, then the `Direction` (source 'trained'). Stop keeps d so far."""
    config.check()
    device = model.device
    mean, spread = _w_spread(model)
    mean = mean.to(device)
    w_ref = sample_w(model, 2000, seed=config.seed + 2).to(device)
    cov = torch.cov(w_ref.T)
    gen = torch.Generator().manual_seed(config.seed)
    unit = score_spread(model, scorer, f"'{name}'", seed=config.seed + 1)
    v = (torch.randn(model.w_dim, generator=gen) / math.sqrt(model.w_dim)).to(device).requires_grad_(True)
    opt = torch.optim.Adam([v], lr=config.lr / math.sqrt(model.w_dim))
    started, done = time.perf_counter(), 0
    for step in range(config.steps):
        if cancel is not None and cancel.is_set():
            break
        w = sample_w(model, config.batch, seed=config.seed * 1_000_003 + 7919 * step).to(device)
        a = ((torch.rand(config.batch, generator=gen) * 2 - 1) * config.max_step).to(device)
        along = v / v.norm()
        moved = w + a[:, None] * torch.sqrt(along @ cov @ along) * along
        with torch.no_grad():
            before_img = model.synthesize(w, space="w")
            before = scorer(before_img)
        after_img = model.synthesize(moved, space="w")
        rise = (scorer(after_img) - before) / unit
        fit = ((rise - config.eps * a) ** 2).mean()
        keep = (distance(after_img, before_img) / a.abs().clamp_min(0.1)).mean()
        real = torch.relu(((moved - mean) ** 2).sum(-1) - ((w - mean) ** 2).sum(-1)).mean() / spread
        loss = fit + config.keep_weight * keep + config.real_weight * real
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        done = step + 1
        terms = {"fit": float(fit.detach()), "keep": float(keep.detach()), "real": float(real.detach())}
        if not all(math.isfinite(x) for x in terms.values()):
            raise GanlabError(f"direction training diverged at step {done}; try a lower learning rate")
        elapsed = time.perf_counter() - started
        yield ProjectionStep(done, config.steps, terms, "fit", elapsed / done * (config.steps - done))
    if done == 0:
        raise GanlabError(f"'{name}': stopped before the first step, so no direction was learned")
    along = (v / v.norm()).detach()
    sigma = float(torch.sqrt(along @ cov @ along))
    yield Direction(name, along.cpu().numpy(), model.name, space="w", source="trained", sigma=sigma,
                    metadata={"eps": config.eps, "score_spread": unit, "steps": done, "batch": config.batch,
                              "keep_weight": config.keep_weight, "real_weight": config.real_weight})
