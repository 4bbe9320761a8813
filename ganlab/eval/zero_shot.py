"""How well a text-image model reads face attributes zero-shot: a phrase against its opposite, per attribute.

For each binary attribute the model says "yes" when an image is closer to the phrase ("a face with a
beard") than to its opposite ("a clean-shaven face"); for hair colour it picks the closest of one
phrase per colour. Labels come from the renderer (exact) or, for generated images, from the face judge.
"""

from __future__ import annotations

import numpy as np
import torch

from ganlab.data import HAIR_COLORS, face_labels, render_faces
from ganlab.imaging import from_uint8
from ganlab.text.base import TextImageModel
from ganlab.text.captions import FACE_PROBES, HAIR_PROBES

HELD_OUT_SEED = 940_000_000  # renderer seeds of the held-out faces; toy CLIP training stays far from it
# Where an attribute's phrases say nothing about some faces, those faces are left out of its score.
_ONLY_WITH_HAIR = ("long_hair", *(f"hair_{c}" for c in HAIR_COLORS), "hair_color")


@torch.no_grad()
def face_predictions(model: TextImageModel, img: torch.Tensor, batch_size: int = 256) -> dict[str, np.ndarray]:
    """The model's zero-shot decisions on `img` [N, 3, H, W] in [-1, 1]: bool [N] per `FACE_PROBES` attribute,
    'hair_color' (int64 index into HAIR_COLORS) and one bool 'hair_<colour>' per colour."""
    binary = list(FACE_PROBES)
    phrases = [p for name in binary for p in FACE_PROBES[name]] + list(HAIR_PROBES.values())
    text = model.encode_text(phrases).to(model.device)
    sims = torch.cat([model.encode_image(chunk.to(model.device)) @ text.T for chunk in img.split(batch_size)]).cpu()
    out = {name: (sims[:, 2 * k] > sims[:, 2 * k + 1]).numpy() for k, name in enumerate(binary)}
    out["hair_color"] = sims[:, 2 * len(binary):].argmax(1).numpy().astype(np.int64)
    for k, colour in enumerate(HAIR_COLORS):
        out[f"hair_{colour}"] = out["hair_color"] == k
    return out


def zero_shot_accuracy(pred: dict[str, np.ndarray], labels: dict[str, np.ndarray]) -> dict[str, float]:
    """Accuracy per attribute of `face_predictions` against labels in `face_labels`' format; hair length and
    colour are scored on faces with hair only (a bald head has neither)."""
    has_hair = ~labels["bald"]
    out = {}
    for name in pred:
        keep = has_hair if name in _ONLY_WITH_HAIR else np.ones_like(has_hair)
        out[name] = float(np.mean(pred[name][keep] == labels[name][keep]))
    return out


def rendered_faces(n: int, seed: int, size: int = 64) -> tuple[torch.Tensor, dict[str, np.ndarray]]:
    """`img` [n, 3, size, size] of freshly rendered faces and their exact labels."""
    images, attrs = render_faces(n, seed, size)
    return from_uint8(images), face_labels(attrs)


@torch.no_grad()
def generated_faces(model, judge, n: int, seed: int, truncation: float = 1.0,
                    batch_size: int = 64) -> tuple[torch.Tensor, dict[str, np.ndarray]]:
    """`img` [n, 3, R, R] drawn by a face generator (a GanModel) from seeded z, labelled by the face judge."""
    z = model.sample_z(n, seed)
    img = torch.cat([model.synthesize(chunk.to(model.device), "z", truncation=truncation).clamp(-1, 1).cpu()
                     for chunk in z.split(batch_size)])
    return img, judge.predict(img)


GENERATOR = "toyfaces-64"


def face_figures(model: TextImageModel, n: int = 1000, seed: int = 0, device: torch.device | str = "cpu"
                 ) -> dict[str, dict[str, float]]:
    """Zero-shot accuracy per attribute on `n` freshly rendered faces (exact labels; renderer seed
    HELD_OUT_SEED + `seed`, never trained on) and on `n` faces of the bundled toyfaces-64 generator
    (z seeds from `seed`; labelled by the face judge)."""
    import ganlab
    from ganlab.eval.judges import cached_judge

    img, labels = rendered_faces(n, HELD_OUT_SEED + seed)
    rendered = zero_shot_accuracy(face_predictions(model, img), labels)
    generator = ganlab.load(GENERATOR, device).model
    img, labels = generated_faces(generator, cached_judge("faces", device=device), n, seed)
    generated = zero_shot_accuracy(face_predictions(model, img), labels)
    return {"rendered_faces": rendered, f"{GENERATOR}_samples": generated}
