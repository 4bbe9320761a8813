"""The open_clip adapter, built with random weights (offline): shapes, unit norm, any image size, and
gradients that reach the image."""

from __future__ import annotations

import pytest
import torch

from ganlab.errors import GanlabError
from ganlab.text.openclip import OpenClip


@pytest.fixture(scope="module")
def clip():
    return OpenClip(pretrained=False, device="cpu")


def test_embeddings_are_unit_vectors_of_the_shared_size(clip):
    text = clip.encode_text(["a smiling face", "a face with glasses and a beard"])
    for size in (64, 256):
        img = clip.encode_image(torch.rand(2, 3, size, size) * 2 - 1)
        assert img.shape == (2, clip.embed_dim) == text.shape
        assert torch.allclose(img.norm(dim=1), torch.ones(2), atol=1e-5)
    assert torch.allclose(text.norm(dim=1), torch.ones(2), atol=1e-5)
    assert clip.similarity(torch.zeros(3, 3, 64, 64), ["a face"]).shape == (3, 1)


def test_the_gradient_reaches_the_image_and_not_the_weights(clip):
    img = torch.zeros(1, 3, 64, 64, requires_grad=True)
    (clip.encode_image(img) @ clip.encode_text(["a bald face"]).T).sum().backward()
    assert img.grad is not None and img.grad.abs().sum() > 0
    assert all(p.grad is None for p in clip.model.parameters())


def test_bad_inputs_are_refused_clearly(clip):
    with pytest.raises(GanlabError, match="empty"):
        clip.encode_text(["  "])
    with pytest.raises(GanlabError, match="not one string"):
        clip.encode_text("a face")
    with pytest.raises(GanlabError, match="img has shape"):
        clip.encode_image(torch.zeros(3, 64, 64))
