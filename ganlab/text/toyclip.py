"""The bundled toy CLIP: a small image tower and a small text tower trained on rendered toy faces and objects.

It stands in for the real CLIP on the demo generators, offline: same interface (`TextImageModel`), a
word-level tokenizer whose fixed vocabulary lives in the config, and a transformer over word and
position embeddings, so that "without glasses" and "glasses" mean different things. On disk it is a
folder: `model.safetensors` + `config.json` (what `ganlab.invert.netio` writes).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from ganlab.errors import GanlabError
from ganlab.invert.netio import load_net, save_net
from ganlab.models.base import check_shape
from ganlab.text.base import TextImageModel, check_phrases

MODEL_TYPE = "ganlab-toyclip"
SPECIALS = ("<pad>", "<unk>", "<cls>")  # token ids 0, 1, 2; the vocabulary's words follow
PAD, UNK, CLS = range(len(SPECIALS))


@dataclass(frozen=True)
class ToyClipConfig:
    """The architecture; saved as the folder's config, so a folder rebuilds exactly what was trained."""

    vocab: tuple[str, ...]                     # the words the text tower knows (lower case); others read as <unk>
    image_size: int = 64                       # the image tower's input side; other sizes are resized to it
    channels: tuple[int, ...] = (32, 64, 128, 128)  # one stride-2 conv per entry: 64 px -> 4 px
    embed_dim: int = 128                       # the shared embedding's size
    max_words: int = 16                        # longer phrases are cut here (the <cls> token comes on top)
    text_width: int = 128                      # the text transformer's width
    text_layers: int = 2
    text_heads: int = 4

    @classmethod
    def from_dict(cls, d: dict) -> "ToyClipConfig":
        return cls(**{**d, "vocab": tuple(d["vocab"]), "channels": tuple(d["channels"])})


class WordTokenizer:
    """Phrases -> token ids [T, max_words + 1]: <cls>, then the lower-cased words (runs of letters), padded.

    Words outside the vocabulary become <unk>, so the model still reads the words it knows around them.
    """

    def __init__(self, vocab: Sequence[str], max_words: int):
        self.vocab = tuple(vocab)
        self.max_words = max_words
        self.ids = {w: i + len(SPECIALS) for i, w in enumerate(self.vocab)}

    def __len__(self) -> int:
        return len(SPECIALS) + len(self.vocab)

    @staticmethod
    def words(text: str) -> list[str]:
        return re.findall(r"[a-z]+", text.lower())

    def __call__(self, texts: Sequence[str]) -> torch.Tensor:
        rows = []
        for text in check_phrases(texts):
            words = self.words(text)
            if not words:
                raise GanlabError(f"the phrase {text!r} has no words: type what the image should show, "
                                  "e.g. 'a smiling face with glasses'")
            rows.append([CLS] + [self.ids.get(w, UNK) for w in words[:self.max_words]])
        out = torch.full((len(rows), self.max_words + 1), PAD, dtype=torch.long)
        for i, row in enumerate(rows):
            out[i, :len(row)] = torch.tensor(row)
        return out


class ImageTower(nn.Module):
    """Stride-2 conv blocks (BatchNorm, ReLU) down to 4 px, then two linear layers to the embedding."""

    def __init__(self, cfg: ToyClipConfig):
        super().__init__()
        layers: list[nn.Module] = []
        cin = 3
        for cout in cfg.channels:
            layers += [nn.Conv2d(cin, cout, 3, 2, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True)]
            cin = cout
        side = cfg.image_size // 2 ** len(cfg.channels)
        self.convs = nn.Sequential(*layers)
        self.head = nn.Sequential(nn.Flatten(), nn.Linear(cin * side * side, 256), nn.ReLU(inplace=True),
                                  nn.Linear(256, cfg.embed_dim))

    def forward(self, img: torch.Tensor) -> torch.Tensor:
        return self.head(self.convs(img))


class TextTower(nn.Module):
    """Word + position embeddings, a pre-norm transformer, and the <cls> token's output projected."""

    def __init__(self, cfg: ToyClipConfig):
        super().__init__()
        width = cfg.text_width
        self.tokens = nn.Embedding(len(SPECIALS) + len(cfg.vocab), width)
        self.positions = nn.Parameter(torch.randn(cfg.max_words + 1, width) * 0.02)
        layer = nn.TransformerEncoderLayer(width, cfg.text_heads, 2 * width, dropout=0.0, batch_first=True,
                                           norm_first=True)
        self.blocks = nn.TransformerEncoder(layer, cfg.text_layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(width)
        self.proj = nn.Linear(width, cfg.embed_dim)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        x = self.tokens(tokens) + self.positions[:tokens.shape[1]]
        x = self.blocks(x, src_key_padding_mask=tokens == PAD)
        return self.proj(self.norm(x[:, 0]))


class ToyClipNet(nn.Module):
    """Both towers and the learned temperature of the contrastive loss (CLIP's logit scale, in log space)."""

    def __init__(self, cfg: ToyClipConfig):
        super().__init__()
        self.cfg = cfg
        self.image = ImageTower(cfg)
        self.text = TextTower(cfg)
        self.logit_scale = nn.Parameter(torch.tensor(2.659))  # log(1 / 0.07), CLIP's start

    def encode_image(self, img: torch.Tensor) -> torch.Tensor:
        """Unit embeddings [N, D] of `img` [N, 3, S, S] in [-1, 1]; any S is resized (antialiased) to the input."""
        check_shape("img", img, [None, 3, None, None])
        if img.shape[2] != img.shape[3]:
            raise GanlabError(f"img must be square, got {img.shape[2]} x {img.shape[3]}")
        size = self.cfg.image_size
        if img.shape[-1] != size:
            img = F.interpolate(img, size=(size, size), mode="bilinear", antialias=True, align_corners=False)
        return F.normalize(self.image(img), dim=1)

    def encode_tokens(self, tokens: torch.Tensor) -> torch.Tensor:
        """Unit embeddings [T, D] of token ids from `WordTokenizer`."""
        return F.normalize(self.text(tokens), dim=1)

    def scale(self) -> torch.Tensor:
        """The logit scale, capped at 100 as CLIP's is."""
        return self.logit_scale.exp().clamp(max=100.0)


def _build(cfg: dict) -> ToyClipNet:
    return ToyClipNet(ToyClipConfig.from_dict(cfg))


class ToyClip(TextImageModel):
    """The toy CLIP behind the common interface; its weights never need gradients (images do)."""

    def __init__(self, net: ToyClipNet, name: str = "toyclip-64"):
        self.net = net.eval().requires_grad_(False)
        self.name = name
        self.embed_dim = net.cfg.embed_dim
        self.tokenizer = WordTokenizer(net.cfg.vocab, net.cfg.max_words)

    @property
    def device(self) -> torch.device:
        return self.net.logit_scale.device

    def to(self, device: torch.device | str) -> "ToyClip":
        self.net.to(device)
        return self

    def encode_image(self, img: torch.Tensor) -> torch.Tensor:
        return self.net.encode_image(img.to(self.device, torch.float32))

    def encode_text(self, texts: Sequence[str]) -> torch.Tensor:
        tokens = self.tokenizer(texts)
        with torch.no_grad():
            return self.net.encode_tokens(tokens.to(self.device))


def save_toyclip(net: ToyClipNet, folder: Path | str, extra: dict | None = None) -> Path:
    """Write the folder (weights + config); `extra` (how it was trained, held-out figures) goes into config.json."""
    return save_net(net, MODEL_TYPE, net.cfg, folder, extra)


def load_toyclip(folder: Path | str, device: torch.device | str = "cpu", name: str = "toyclip-64") -> ToyClip:
    """Read a folder written by `save_toyclip`."""
    net = load_net(folder, {MODEL_TYPE: _build}, "toy CLIP")
    return ToyClip(net, name).to(device)  # type: ignore[arg-type]
