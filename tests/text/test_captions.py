"""Captions from the renderers' labels: every caption is true of its own image, and the match matrix says
exactly which images satisfy a caption's claims, as the labels do."""

from __future__ import annotations

import numpy as np

from ganlab.data import HAIR_COLORS, face_labels, render_faces, render_objects
from ganlab.text.captions import (Caption, Claim, counterfactual, face_caption, face_facts, match_matrix,
                                  object_caption, object_facts, vocabulary)
from ganlab.text.toyclip import WordTokenizer

_, FACES = render_faces(300, seed=5)
_, OBJECTS = render_objects(100, seed=5)
FACTS = [face_facts(a) for a in FACES] + [object_facts(a) for a in OBJECTS]
DOMAINS = ["faces"] * len(FACES) + ["objects"] * len(OBJECTS)


def _captions(seed: int) -> list[Caption]:
    rng = np.random.default_rng(seed)
    return [face_caption(a, rng) for a in FACES] + [object_caption(a, rng) for a in OBJECTS]


def test_every_caption_is_true_of_the_image_it_was_written_for():
    captions = _captions(0)
    assert match_matrix(DOMAINS, FACTS, captions).diagonal().all()


def test_a_counterfactual_contradicts_one_claim_and_is_false_of_the_image():
    rng = np.random.default_rng(2)
    captions = _captions(2)
    flipped = [counterfactual(c, rng) for c in captions]
    assert all((f is None) == (not c.claims) for c, f in zip(captions, flipped))
    kept = [i for i, f in enumerate(flipped) if f is not None]
    match = match_matrix([DOMAINS[i] for i in kept], [FACTS[i] for i in kept], [flipped[i] for i in kept])
    assert not match.diagonal().any()
    assert all(len(set(captions[i].claims) - set(flipped[i].claims)) == 1 for i in kept)


def test_the_match_matrix_agrees_with_the_face_labels():
    labels = face_labels(FACES)
    probes = [Caption("smiling", "faces", (Claim("smile"),)),
              Caption("no beard", "faces", (Claim("beard", False),)),
              Caption("bald with sunglasses", "faces", (Claim("bald"), Claim("sunglasses"))),
              Caption("without glasses", "faces", (Claim("glasses", False),)),
              Caption("blond hair", "faces", (Claim("hair_blond"),)),
              Caption("a face", "faces")]
    match = match_matrix(DOMAINS, FACTS, probes)
    faces, objects = match[:len(FACES)], match[len(FACES):]
    assert not objects.any()
    assert (faces[:, 0] == labels["smile"]).all()
    assert (faces[:, 1] == ~labels["beard"]).all()
    assert (faces[:, 2] == (labels["bald"] & labels["sunglasses"])).all()
    assert (faces[:, 3] == ~labels["glasses"]).all()
    assert (faces[:, 4] == (labels["hair_blond"] & ~labels["bald"])).all()  # a bald head's tufts are not hair
    assert faces[:, 5].all()
    assert 0 < faces[:, 0].sum() < len(FACES) and faces[:, 2].sum() > 0


def test_captions_vary_and_use_only_words_of_the_vocabulary():
    captions = _captions(1)
    texts = {c.text for c in captions}
    assert len(texts) > 0.8 * len(captions)
    words = {w for t in texts for w in WordTokenizer.words(t)}
    assert words <= set(vocabulary())
    assert any(c.claims and not all(x.holds for x in c.claims) for c in captions)  # negations occur
    assert {"glasses", "eyeglasses", "grey", "gray", "smiling", "without"} <= set(vocabulary())
    assert set(HAIR_COLORS) <= set(vocabulary())
