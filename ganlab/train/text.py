"""Training the bundled toy CLIP on freshly rendered faces and objects with captions from their exact labels.

Every step renders a new batch from its own seed, writes one random true caption per image, and
pulls each image towards every caption of the batch it satisfies (`captions.match_matrix`), not only
towards the one written for it: "a smiling face" is true of half the faces in a batch. Each caption
also brings a counterfactual (one claim contradicted, `captions.counterfactual`): a hard negative
that differs in one fact, without which the model learns the easy attributes and ignores subtle
ones such as a smile. And while it trains, a linear head reads every fact of an image from its
embedding (binary cross-entropy against the labels): the contrastive loss alone sat at a saddle
where neither tower told smiles from frowns, since each waited for the other. Light
augmentation (softening, noise, small colour changes) makes the image tower read the softer images
the generators draw as it reads the renderer's crisp ones.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Iterator

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ganlab.data import render_faces, render_objects
from ganlab.imaging import from_uint8
from ganlab.text.captions import (FACT_NAMES, counterfactual, face_caption, face_facts, match_matrix,
                                  object_caption, object_facts, vocabulary)
from ganlab.text.toyclip import ToyClipConfig, ToyClipNet, WordTokenizer, save_toyclip
from ganlab.train.runs import TrainProgress, TrainState, resume_train_state, run_net_weights, save_train_state, stage_lr

# Far from the seeds the generators (small), the judges (910M, 920M) and the held-out checks
# (ganlab.eval.zero_shot, 940M) use, so the toy CLIP trains on other images.
TRAIN_SEED_BASE = 930_000_000
WARMUP_STEPS = 100


@dataclass
class TextTrainConfig:
    """Everything that decides a training run; saved in the run folder."""

    steps: int = 2400
    batch: int = 128
    lr: float = 2e-3
    object_fraction: float = 0.25   # share of each batch that is toy objects (the rest: faces)
    augment: bool = True            # soften, add noise, shift colours a little (see `augment`)
    fact_weight: float = 1.0        # weight of the fact head's loss (0: contrastive loss only)
    anneal: bool = True             # cosine-decay lr over the stage (runs.stage_lr)
    seed: int = 0
    checkpoint_every: int = 200


def augment(img: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """Per image: a quarter softened (down to 28-52 px and back up), noise up to 0.05, brightness and contrast
    within a few percent, each channel's gain within 3%; mild enough that hair and skin colours keep their names."""
    n = img.shape[0]
    side = img.shape[-1]

    def u(lo: float, hi: float, *shape: int) -> torch.Tensor:
        return lo + (hi - lo) * torch.rand(n, *shape, generator=gen)

    soft = torch.rand(n, generator=gen) < 0.25
    if soft.any():
        small = int(torch.randint(28, 53, (1,), generator=gen))
        down = F.interpolate(img[soft], size=(small, small), mode="bilinear", antialias=True, align_corners=False)
        img = img.clone()
        img[soft] = F.interpolate(down, size=(side, side), mode="bilinear", align_corners=False)
    mean = img.mean(dim=(1, 2, 3), keepdim=True)
    img = (img - mean) * u(0.88, 1.12, 1, 1, 1) + mean + u(-0.06, 0.06, 1, 1, 1)
    img = img * u(0.97, 1.03, 3, 1, 1)
    img = img + torch.randn(img.shape, generator=gen) * u(0.0, 0.05, 1, 1, 1)
    return img.clamp(-1, 1)


@dataclass
class Batch:
    """One step's data: images [B, 3, 64, 64] in [-1, 1], token ids [C, L] of the B true captions and then
    their counterfactuals, match [B, C] (float), and each image's facts [B, len(FACT_NAMES)] (float) with
    `known` marking those of its own domain."""

    img: torch.Tensor
    tokens: torch.Tensor
    match: torch.Tensor
    facts: torch.Tensor
    known: torch.Tensor


def make_batch(n: int, object_fraction: float, data_seed: int, tokenizer: WordTokenizer, size: int = 64) -> Batch:
    """Render `n` images (faces, then objects) from `data_seed`, caption each (plus counterfactuals), and
    match all images against all captions."""
    n_obj = int(round(n * object_fraction))
    faces, face_attrs = render_faces(n - n_obj, data_seed, size)
    objects, object_attrs = render_objects(n_obj, data_seed, size)
    rng = np.random.default_rng(data_seed)
    captions = [face_caption(a, rng) for a in face_attrs] + [object_caption(a, rng) for a in object_attrs]
    captions += [c for c in (counterfactual(c, rng) for c in captions) if c is not None]
    facts = [face_facts(a) for a in face_attrs] + [object_facts(a) for a in object_attrs]
    domains = ["faces"] * len(face_attrs) + ["objects"] * len(object_attrs)
    match = match_matrix(domains, facts, captions)
    img = from_uint8(np.concatenate([faces, objects]))
    known = torch.tensor([[name in f for name in FACT_NAMES] for f in facts])
    values = torch.tensor([[bool(f.get(name)) for name in FACT_NAMES] for f in facts]).float()
    return Batch(img, tokenizer([c.text for c in captions]), torch.from_numpy(match).float(), values, known)


def multi_positive_loss(img_emb: torch.Tensor, text_emb: torch.Tensor, scale: torch.Tensor,
                        match: torch.Tensor) -> torch.Tensor:
    """CLIP's symmetric cross-entropy with soft targets: each image's target spreads evenly over every caption
    it satisfies, each caption's over every image that satisfies it (`match` [images, captions], 0/1; every
    image satisfies some caption; a caption no image satisfies only serves as a negative)."""
    logits = scale * img_emb @ text_emb.T
    to_text = -(match / match.sum(1, keepdim=True) * logits.log_softmax(1)).sum(1).mean()
    seen = match.sum(0) > 0
    m, log_p = match[:, seen], logits[:, seen].log_softmax(0)
    to_image = -(m / m.sum(0, keepdim=True) * log_p).sum(0).mean()
    return (to_text + to_image) / 2


class ToyClipTrainee(nn.Module):
    """What trains: the toy CLIP and the fact head on its image embeddings (not shipped)."""

    def __init__(self, cfg: ToyClipConfig):
        super().__init__()
        self.clip = ToyClipNet(cfg)
        self.facts = nn.Linear(cfg.embed_dim, len(FACT_NAMES))


def fact_loss(logits: torch.Tensor, facts: torch.Tensor, known: torch.Tensor) -> torch.Tensor:
    """Mean binary cross-entropy over the facts each image's domain has."""
    per = F.binary_cross_entropy_with_logits(logits, facts, reduction="none")
    return (per * known).sum() / known.sum().clamp(min=1)


def default_config() -> ToyClipConfig:
    """The bundled model's architecture, with the vocabulary every caption can use."""
    return ToyClipConfig(vocab=tuple(vocabulary()))


def train_text(tcfg: TextTrainConfig, run_dir: Path | str, device: torch.device | str = "cpu",
               cfg: ToyClipConfig | None = None) -> Iterator[TrainProgress]:
    """Train the toy CLIP, resuming from `run_dir/checkpoint.pt` when present; yields one record per step."""
    device = torch.device(device)
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    cfg = cfg or default_config()
    torch.manual_seed(tcfg.seed)
    trainee = ToyClipTrainee(cfg).to(device).train()
    net = trainee.clip
    state = TrainState(trainee, torch.optim.AdamW(trainee.parameters(), lr=tcfg.lr, weight_decay=1e-4))
    resume_train_state(state, run_dir, device, tcfg.steps)
    tokenizer = WordTokenizer(cfg.vocab, cfg.max_words)
    first, started = state.step, time.perf_counter()
    while state.step < tcfg.steps:
        data_seed = TRAIN_SEED_BASE + tcfg.seed * 1_000_003 + state.step
        batch = make_batch(tcfg.batch, tcfg.object_fraction, data_seed, tokenizer, cfg.image_size)
        img = augment(batch.img, torch.Generator().manual_seed(data_seed)) if tcfg.augment else batch.img
        img_emb = net.encode_image(img.to(device))
        contrast = multi_positive_loss(img_emb, net.encode_tokens(batch.tokens.to(device)), net.scale(),
                                       batch.match.to(device))
        facts = fact_loss(trainee.facts(img_emb), batch.facts.to(device), batch.known.to(device))
        loss = contrast + tcfg.fact_weight * facts
        state.opt.zero_grad(set_to_none=True)
        loss.backward()
        lr = stage_lr(state, tcfg.lr, tcfg.anneal) * min(1.0, (state.step + 1) / WARMUP_STEPS)
        for group in state.opt.param_groups:
            group["lr"] = lr
        state.opt.step()
        state.step += 1
        eta = (time.perf_counter() - started) / (state.step - first) * (tcfg.steps - state.step)
        rec = TrainProgress(step=state.step, total=tcfg.steps, eta_s=eta,
                            losses={"contrast": contrast.item(), "facts": facts.item(), "scale": net.scale().item()})
        if state.step % tcfg.checkpoint_every == 0 or state.step == tcfg.steps:
            rec.checkpoint = save_train_state(state, run_dir, {"toyclip": asdict(cfg), "training": asdict(tcfg)})
        yield rec


def trained_net(run_dir: Path | str) -> tuple[ToyClipNet, dict]:
    """The run's net (eval mode) and its config.json."""
    meta, weights = run_net_weights(run_dir)
    trainee = ToyClipTrainee(ToyClipConfig.from_dict(meta["toyclip"]))
    trainee.load_state_dict(weights)
    return trainee.clip.eval(), meta


def export_text(run_dir: Path | str, out_dir: Path | str, held_out: dict | None = None) -> Path:
    """Write the run's toy CLIP in the shipped format; config.json also records how it was trained (the
    run's stages) and `held_out`, the figures it scored on images it never saw."""
    net, meta = trained_net(run_dir)
    extra = {"training": {"stages": meta.get("stages", []), "command": "python -m ganlab train-text"},
             "held_out": held_out or {}}
    return save_toyclip(net, out_dir, extra)
