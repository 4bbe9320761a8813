"""The bundled toy CLIP: its tokenizer, its embeddings, gradients to the image, a save/load round trip, and
that it reads face attributes zero-shot on freshly rendered faces it never saw."""

from __future__ import annotations

import pytest
import torch

from ganlab.errors import GanlabError
from ganlab.eval.zero_shot import HELD_OUT_SEED, face_predictions, rendered_faces, zero_shot_accuracy
from ganlab.text import TOYCLIP, bundled_text_folder, load_text_model
from ganlab.text.toyclip import CLS, PAD, UNK, ToyClip, WordTokenizer, load_toyclip, save_toyclip


@pytest.fixture(scope="module")
def toy() -> ToyClip:
    return load_text_model(TOYCLIP, "cpu")  # type: ignore[return-value]


def test_the_tokenizer_reads_words_marks_unknown_ones_and_cuts_long_phrases():
    tok = WordTokenizer(["a", "face", "with", "glasses"], max_words=4)
    ids = tok(["A face, with GLASSES!", "a zebra face"])
    assert ids.shape == (2, 5)
    assert ids[0].tolist() == [CLS, tok.ids["a"], tok.ids["face"], tok.ids["with"], tok.ids["glasses"]]
    assert ids[1].tolist() == [CLS, tok.ids["a"], UNK, tok.ids["face"], PAD]
    assert tok(["a face " * 20]).shape == (1, 5)
    for empty in ([""], ["  ,;"], []):
        with pytest.raises(GanlabError):
            tok(empty)


def test_embeddings_are_unit_vectors_for_any_square_size(toy):
    text = toy.encode_text(["a smiling face", "a red star", "sunglasses"])
    assert text.shape == (3, toy.embed_dim)
    assert torch.allclose(text.norm(dim=1), torch.ones(3), atol=1e-5)
    img, _ = rendered_faces(2, HELD_OUT_SEED)
    for size in (32, 64, 256):
        emb = toy.encode_image(torch.nn.functional.interpolate(img, size=(size, size), mode="bilinear"))
        assert emb.shape == (2, toy.embed_dim)
        assert torch.allclose(emb.norm(dim=1), torch.ones(2), atol=1e-5)
    with pytest.raises(GanlabError, match="square"):
        toy.encode_image(torch.zeros(1, 3, 64, 48))


def test_the_gradient_reaches_the_image(toy):
    img = torch.zeros(1, 3, 128, 128, requires_grad=True)
    toy.similarity(img, ["a face with a beard"]).sum().backward()
    assert img.grad is not None and img.grad.abs().sum() > 0
    assert all(p.grad is None for p in toy.net.parameters())


def test_negation_and_order_change_the_text_embedding(toy):
    a, b, c = toy.encode_text(["a face with glasses", "a face without glasses", "glasses with a face"])
    assert (a - b).norm() > 1e-3 and (a - c).norm() > 1e-3


def test_it_reads_face_attributes_zero_shot_on_unseen_rendered_faces(toy):
    img, labels = rendered_faces(400, HELD_OUT_SEED + 1)
    accuracy = zero_shot_accuracy(face_predictions(toy, img), labels)
    for name in ("sunglasses", "beard", "bald", "dark_skin", "hair_color"):
        assert accuracy[name] > 0.85, (name, accuracy)
    assert accuracy["smile"] > 0.7, accuracy


def test_a_saved_folder_loads_back_the_same_model(toy, tmp_path):
    save_toyclip(toy.net, tmp_path / "copy", {"note": "round trip"})
    again = load_toyclip(tmp_path / "copy")
    img, _ = rendered_faces(3, HELD_OUT_SEED)
    assert torch.equal(again.encode_image(img), toy.encode_image(img))
    assert torch.equal(again.encode_text(["a bald face"]), toy.encode_text(["a bald face"]))
    assert again.net.cfg == toy.net.cfg


def test_the_bundled_folder_is_small_and_says_how_it_was_made():
    import json

    folder = bundled_text_folder(TOYCLIP)
    assert sum(f.stat().st_size for f in folder.iterdir()) < 10e6
    meta = json.loads((folder / "config.json").read_text())
    assert meta["training"]["stages"] and meta["held_out"]["rendered_faces"]
