"""Small CNN "judges" trained on rendered, exactly labelled images, to score what the generators make.

The renderers know the true attributes of every image they draw, so a classifier trained on them
tells us what a generated image shows: which attributes a face has, which class an object is. The
same nets give the features for KID (`ganlab.eval.kid`). Trained judges are cached under
`settings.cache_dir()/judges`, keyed by `JUDGE_VERSION` and the training config, so benchmarks
and edit checks load them instead of retraining.
"""

from __future__ import annotations

import os
import pickle
import time
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable, Iterator

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ganlab import settings
from ganlab.data import CLASS_NAMES, HAIR_COLORS, face_labels, object_labels, render_faces, render_objects
from ganlab.imaging import from_uint8

JUDGE_VERSION = "1"
FEATURE_DIM = 128
_CHANNELS = (16, 32, 64, 64)
# Far from the small seeds the generators train on (`seed * 1_000_003 + step`), so judges see other faces.
_TRAIN_SEED_BASE = 910_000_000
_TEST_SEED_BASE = 920_000_000

Labeller = Callable[[list], dict[str, np.ndarray]]
Renderer = Callable[[int, int], tuple[np.ndarray, list]]  # (n, seed) -> (uint8 [n, H, W, 3], attrs)


@dataclass(frozen=True)
class Head:
    """One output of a judge: a binary attribute (`classes == 1`, one logit) or a `classes`-way choice."""

    name: str
    classes: int = 1


FACE_BINARY = ("smile", "sunglasses", "eyeglasses", "beard", "bald", "long_hair", "dark_skin")
FACE_HEADS = tuple(Head(name) for name in FACE_BINARY) + (Head("hair_color", len(HAIR_COLORS)),)
OBJECT_HEADS = (Head("cls", len(CLASS_NAMES)),)


@dataclass(frozen=True)
class JudgeConfig:
    """How a judge is trained; part of its cache key, so changing any field retrains."""

    n_train: int
    steps: int
    n_test: int = 2_000
    batch_size: int = 64
    lr: float = 3e-3
    seed: int = 0

    def key(self) -> str:
        return f"n{self.n_train}-s{self.steps}-b{self.batch_size}-lr{self.lr:g}-seed{self.seed}"

    @property
    def train_seed(self) -> int:
        return _TRAIN_SEED_BASE + self.seed

    @property
    def test_seed(self) -> int:
        return _TEST_SEED_BASE + self.seed


# Sized for about a minute of one CPU core. Every face head but "smile" is ~100% long before that;
# smile (> 0) is nearly invisible for |smile| < 0.15 and gains ~0.5 point per extra 1000 steps.
_FACES = JudgeConfig(n_train=20_000, steps=1_500)
_OBJECTS = JudgeConfig(n_train=12_000, steps=1_200)
DEFAULT_CONFIGS: dict[str, JudgeConfig] = {"faces": _FACES, "objects": _OBJECTS}


class JudgeNet(nn.Module):
    """Four stride-2 conv blocks (64 -> 4 px), a 128-d feature layer, and one linear layer for all heads.

    `feature_scale` (set after training) scales the returned features so that rendered images have
    mean |f|^2 / d = 1: KID's kernel (x·y / d + 1)^3 then weighs the linear and the cubic terms as it
    does on Inception features, instead of being dominated by an arbitrary activation scale.
    """

    def __init__(self, heads: tuple[Head, ...], resolution: int = 64):
        super().__init__()
        layers: list[nn.Module] = []
        cin = 3
        for cout in _CHANNELS:
            layers += [nn.Conv2d(cin, cout, 3, 2, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True)]
            cin = cout
        side = resolution // 2 ** len(_CHANNELS)
        self.trunk = nn.Sequential(*layers, nn.Flatten(), nn.Linear(cin * side * side, FEATURE_DIM),
                                   nn.ReLU(inplace=True))
        self.heads = heads
        self.out = nn.Linear(FEATURE_DIM, sum(h.classes for h in heads))
        self.register_buffer("feature_scale", torch.ones(()))

    def forward(self, img: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """(scaled features [N, 128], logits by head: [N] for binary heads, [N, classes] otherwise)."""
        feats = self.trunk(img)
        parts = torch.split(self.out(feats), [h.classes for h in self.heads], dim=1)
        logits = {h.name: p.squeeze(1) if h.classes == 1 else p for h, p in zip(self.heads, parts)}
        return feats * self.feature_scale, logits


@dataclass
class Judge:
    """A trained judge: call `predict` for decisions, `probabilities` for scores, `features` for KID.

    `accuracy` is per head, measured on `config.n_test` freshly rendered images (a seed not trained on).
    """

    domain: str
    net: JudgeNet
    config: JudgeConfig
    accuracy: dict[str, float] = field(default_factory=dict)
    train_seconds: float = 0.0

    @property
    def device(self) -> torch.device:
        return next(self.net.parameters()).device

    @torch.no_grad()
    def _run(self, img: torch.Tensor, batch_size: int = 256) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """Features and per-head probabilities for `img` [N, 3, 64, 64] in [-1, 1], in batches."""
        if img.ndim != 4 or img.shape[1] != 3:
            raise ValueError(f"img has shape {list(img.shape)}, expected [N, 3, H, W]")
        self.net.eval()
        feats, probs = [], {h.name: [] for h in self.net.heads}
        for chunk in img.split(batch_size):
            f, logits = self.net(chunk.to(self.device, torch.float32))
            feats.append(f.cpu())
            for h in self.net.heads:
                p = torch.sigmoid(logits[h.name]) if h.classes == 1 else logits[h.name].softmax(1)
                probs[h.name].append(p.cpu())
        return torch.cat(feats).numpy(), {k: torch.cat(v).numpy() for k, v in probs.items()}

    def probabilities(self, img: torch.Tensor) -> dict[str, np.ndarray]:
        """P(attribute) [N] for binary heads, class probabilities [N, classes] for the others."""
        return self._run(img)[1]

    def predict(self, img: torch.Tensor) -> dict[str, np.ndarray]:
        """Decisions in the renderer's label format: bool [N] for binary heads, int64 [N] class indices."""
        probs = self.probabilities(img)
        return {h.name: probs[h.name] > 0.5 if h.classes == 1 else probs[h.name].argmax(1).astype(np.int64)
                for h in self.net.heads}

    def features(self, img: torch.Tensor) -> np.ndarray:
        """Penultimate-layer activations [N, 128] (float32), the embedding KID compares."""
        return self._run(img)[0]

    def scorer(self, attribute: str) -> Callable[[torch.Tensor], torch.Tensor]:
        """A differentiable score [N] of `img` [N, 3, 64, 64] in [-1, 1]: the log-odds that it shows
        `attribute` (a binary head, or '<head>_<class name>' of a multi-class head such as 'hair_blond'), so a
        direction can be trained against the judge."""
        heads = {h.name: h for h in self.net.heads}
        head, index = heads.get(attribute), None
        if head is None:
            for h in self.net.heads:
                names = self.class_names(h.name)
                prefix = h.name.split("_")[0] + "_"
                if attribute.startswith(prefix) and attribute[len(prefix):] in names:
                    head, index = h, names.index(attribute[len(prefix):])
        if head is None or (head.classes > 1 and index is None):
            raise ValueError(f"the {self.domain} judge has no attribute {attribute!r}")
        self.net.eval()

        def score(img: torch.Tensor) -> torch.Tensor:
            logits = self.net(img.to(self.device, torch.float32))[1][head.name]
            if index is None:
                return logits
            others = torch.cat([logits[:, :index], logits[:, index + 1:]], 1)
            return logits[:, index] - torch.logsumexp(others, 1)

        return score

    def class_names(self, head: str) -> list[str]:
        """The class names of a multi-class head ([] when the judge does not name them)."""
        return []


class FaceJudge(Judge):
    """Judges toy faces: the binary attributes of `FACE_BINARY`, plus hair colour (5-way)."""

    def predict(self, img: torch.Tensor) -> dict[str, np.ndarray]:
        """As `Judge.predict`, plus one bool 'hair_<colour>' per colour, as `face_labels` has."""
        out = super().predict(img)
        for k, name in enumerate(HAIR_COLORS):
            out[f"hair_{name}"] = out["hair_color"] == k
        return out

    def class_names(self, head: str) -> list[str]:
        return list(HAIR_COLORS) if head == "hair_color" else []


class ObjectJudge(Judge):
    """Judges toy objects: 'cls', the index into `CLASS_NAMES`."""


@dataclass(frozen=True)
class _Domain:
    """What differs between judges: heads, renderer, labeller and the class to build."""

    heads: tuple[Head, ...]
    render: Renderer
    labels: Labeller
    judge_type: type[Judge]


DOMAINS: dict[str, _Domain] = {
    "faces": _Domain(FACE_HEADS, render_faces, face_labels, FaceJudge),
    "objects": _Domain(OBJECT_HEADS, render_objects, object_labels, ObjectJudge),
}


def _known(domain: str) -> str:
    if domain not in DOMAINS:
        raise ValueError(f"unknown judge domain {domain!r}; known: {', '.join(DOMAINS)}")
    return domain


def _loss(heads: tuple[Head, ...], logits: dict[str, torch.Tensor], targets: dict[str, torch.Tensor]) -> torch.Tensor:
    """Sum over heads: binary cross-entropy for binary heads, cross-entropy for the others."""
    terms = [F.binary_cross_entropy_with_logits(logits[h.name], targets[h.name].float()) if h.classes == 1
             else F.cross_entropy(logits[h.name], targets[h.name]) for h in heads]
    return torch.stack(terms).sum()


def evaluate(judge: Judge, images: np.ndarray, labels: dict[str, np.ndarray]) -> dict[str, float]:
    """Accuracy per head of `judge` on uint8 [N, H, W, 3] images against the renderer's labels."""
    pred = judge.predict(from_uint8(images))
    return {h.name: float(np.mean(pred[h.name] == labels[h.name])) for h in judge.net.heads}


@contextmanager
def _torch_threads(n: int | None) -> Iterator[None]:
    """Temporarily use `n` CPU threads (None: leave as is)."""
    before = torch.get_num_threads()
    if n is not None:
        torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def train_judge(domain: str, config: JudgeConfig | None = None, device: torch.device | str = "cpu",
                threads: int | None = 1) -> Judge:
    """Train a fresh judge for `domain` ('faces' or 'objects') on rendered images; reports held-out accuracy.

    `threads`: CPU threads for training. One is the default because these nets are too small to gain
    from more, and on a CPU shared with other jobs two threads can run 10x slower than one.
    """
    with _torch_threads(threads):
        return _train(_known(domain), config or DEFAULT_CONFIGS[domain], torch.device(device))


def _train(domain: str, config: JudgeConfig, device: torch.device) -> Judge:
    """One-cycle AdamW on random batches of one rendered set; feature scale from that set; accuracy on another."""
    spec, start = DOMAINS[domain], time.perf_counter()
    torch.manual_seed(config.seed)
    images, attrs = spec.render(config.n_train, config.train_seed)
    labels = spec.labels(attrs)
    targets = {h.name: torch.from_numpy(labels[h.name].astype(np.int64)) for h in spec.heads}
    net = JudgeNet(spec.heads).to(device)
    opt = torch.optim.AdamW(net.parameters(), lr=config.lr, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=config.lr, total_steps=config.steps, pct_start=0.15)
    order = torch.Generator().manual_seed(config.seed)
    perm, pos = torch.randperm(config.n_train, generator=order), 0
    net.train()
    for _ in range(config.steps):
        if pos + config.batch_size > config.n_train:
            perm, pos = torch.randperm(config.n_train, generator=order), 0
        idx = perm[pos:pos + config.batch_size]
        pos += config.batch_size
        x = from_uint8(images[idx.numpy()]).to(device)
        _, logits = net(x)
        loss = _loss(spec.heads, logits, {k: v[idx].to(device) for k, v in targets.items()})
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
    judge = spec.judge_type(domain, net.eval(), config)
    feats = judge.features(from_uint8(images[:2_000]))
    mean_sq = max(float(np.mean(np.sum(feats.astype(np.float64) ** 2, 1))), 1e-12)
    net.feature_scale.fill_(float(np.sqrt(FEATURE_DIM / mean_sq)))
    test_images, test_attrs = spec.render(config.n_test, config.test_seed)
    judge.accuracy = evaluate(judge, test_images, spec.labels(test_attrs))
    judge.train_seconds = time.perf_counter() - start
    return judge


def train_face_judge(n_train: int = _FACES.n_train, steps: int = _FACES.steps, seed: int = 0,
                     n_test: int = _FACES.n_test, device: torch.device | str = "cpu",
                     threads: int | None = 1) -> FaceJudge:
    """A fresh face judge (see `train_judge`); the defaults are `DEFAULT_CONFIGS['faces']`."""
    config = JudgeConfig(n_train=n_train, n_test=n_test, steps=steps, seed=seed)
    return train_judge("faces", config, device, threads)  # type: ignore[return-value]


def train_object_judge(n_train: int = _OBJECTS.n_train, steps: int = _OBJECTS.steps, seed: int = 0,
                       n_test: int = _OBJECTS.n_test, device: torch.device | str = "cpu",
                       threads: int | None = 1) -> ObjectJudge:
    """A fresh object judge (see `train_judge`); the defaults are `DEFAULT_CONFIGS['objects']`."""
    config = JudgeConfig(n_train=n_train, n_test=n_test, steps=steps, seed=seed)
    return train_judge("objects", config, device, threads)  # type: ignore[return-value]


def judge_path(domain: str, config: JudgeConfig | None = None) -> Path:
    """Where the judge for (`domain`, `config`; default `DEFAULT_CONFIGS[domain]`) is cached."""
    config = config or DEFAULT_CONFIGS[_known(domain)]
    return settings.cache_dir() / "judges" / f"{domain}-v{JUDGE_VERSION}-{config.key()}.pt"


def save_judge(judge: Judge, path: Path) -> None:
    """Write the state dict plus config and accuracy; atomic, so a concurrent reader never sees half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    record = {"version": JUDGE_VERSION, "domain": judge.domain, "config": asdict(judge.config),
              "accuracy": judge.accuracy, "train_seconds": judge.train_seconds,
              "state_dict": {k: v.cpu() for k, v in judge.net.state_dict().items()}}
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    torch.save(record, tmp)
    os.replace(tmp, path)


def load_judge(path: Path, device: torch.device | str = "cpu") -> Judge:
    """Read a judge written by `save_judge` (weights_only=True: plain tensors and numbers only)."""
    record = torch.load(path, map_location="cpu", weights_only=True)
    if not isinstance(record, dict) or record.get("version") != JUDGE_VERSION:
        raise ValueError(f"{path} is not a version {JUDGE_VERSION} judge")
    spec = DOMAINS[_known(record["domain"])]
    net = JudgeNet(spec.heads)
    net.load_state_dict(record["state_dict"])
    return spec.judge_type(record["domain"], net.to(device).eval(), JudgeConfig(**record["config"]),
                           dict(record["accuracy"]), float(record["train_seconds"]))


def cached_judge(domain: str, config: JudgeConfig | None = None, device: torch.device | str = "cpu") -> Judge:
    """The judge for (`domain`, `config`) from the cache, trained and cached first when absent or unreadable."""
    config = config or DEFAULT_CONFIGS[_known(domain)]
    path = judge_path(domain, config)
    if path.is_file():
        try:
            return load_judge(path, device)
        except (RuntimeError, ValueError, KeyError, EOFError, pickle.UnpicklingError):
            pass
    judge = train_judge(domain, config, device)
    save_judge(judge, path)
    return judge
