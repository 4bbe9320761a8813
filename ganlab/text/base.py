"""What every text-image model (CLIP) looks like to ganlab: images and phrases into one embedding space.

Two kinds stand behind it: the real CLIP (open_clip's ViT-B/32 with OpenAI's weights, downloaded on a
user's machine on first use) and the bundled toy CLIP that the project trains on rendered toy faces and
objects, so that every text feature runs offline on the demo generators. Text features only ever call
`encode_image`, `encode_text` and `similarity`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Sequence

import torch

from ganlab.errors import GanlabError


class TextImageModel(ABC):
    """A contrastive text-image model. Embeddings are unit vectors [N, embed_dim]: their dot product is
    the cosine similarity the model was trained to rank with."""

    name: str
    embed_dim: int

    @property
    @abstractmethod
    def device(self) -> torch.device:
        """Where the model's weights are."""

    @abstractmethod
    def to(self, device: torch.device | str) -> "TextImageModel":
        """Move the weights; returns self."""

    @abstractmethod
    def encode_image(self, img: torch.Tensor) -> torch.Tensor:
        """Unit embeddings [N, D] of `img` [N, 3, H, W] in [-1, 1] (RGB, any square size: resized to the
        model's own input inside). Differentiable with respect to `img`, so a latent can be optimised
        toward a phrase; the model's own weights never need gradients."""

    @abstractmethod
    def encode_text(self, texts: Sequence[str]) -> torch.Tensor:
        """Unit embeddings [T, D] of phrases (tokenised inside; over-long phrases are cut, as CLIP does)."""

    def similarity(self, img: torch.Tensor, texts: Sequence[str]) -> torch.Tensor:
        """Cosine similarity [N, T] of each image with each phrase."""
        text = self.encode_text(texts).to(self.device)
        return self.encode_image(img.to(self.device)) @ text.T


def check_phrases(texts: Sequence[str]) -> list[str]:
    """`texts` as a list, refusing what no model can embed: a bare string (a list of one was meant), no
    phrases at all, or a phrase with nothing in it; the message says what to type instead."""
    if isinstance(texts, str):
        raise GanlabError("encode_text takes a list of phrases, not one string")
    texts = list(texts)
    if not texts:
        raise GanlabError("no phrases given")
    for text in texts:
        if not isinstance(text, str) or not text.strip():
            raise GanlabError(f"the phrase {text!r} is empty: type what the image should show, "
                              "e.g. 'a smiling face with glasses'")
    return texts
