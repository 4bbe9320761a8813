"""How well the bundled toy CLIP reads face attributes zero-shot, on rendered faces and on the face generator.

For each attribute, the model says "yes" when an image is closer to a phrase ("a face with a beard") than
to its opposite ("a clean-shaven face"); hair colour is the closest of one phrase per colour (scored on
faces with hair). (a) freshly rendered faces with exact labels (a seed never trained on); (b) samples of
the bundled toyfaces-64 generator labelled by the face judge: what text features score, so it matters most.
Also: object class zero-shot ("a star" ... one phrase per class) on rendered objects.

Run: python -m benchmarks.text_model [--n 2000] [--seeds 3] [--truncation 1.0]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

import ganlab
from benchmarks.common import describe_machine
from ganlab.data import CLASS_NAMES, render_objects
from ganlab.eval.judges import cached_judge
from ganlab.eval.zero_shot import (HELD_OUT_SEED, face_predictions, generated_faces, rendered_faces,
                                   zero_shot_accuracy)
from ganlab.imaging import from_uint8
from ganlab.text import TOYCLIP, load_text_model


@torch.no_grad()
def object_accuracy(model, n: int, seed: int) -> float:
    """Zero-shot class accuracy on rendered objects: the closest of 'a <class>' per class."""
    images, attrs = render_objects(n, seed)
    text = model.encode_text([f"a {name}" for name in CLASS_NAMES])
    pred = (model.encode_image(from_uint8(images)) @ text.T).argmax(1).numpy()
    return float(np.mean(pred == np.array([a.cls for a in attrs])))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=2000, help="faces per set and seed")
    parser.add_argument("--seeds", type=int, default=3, help="independent sets; the table gives mean and spread")
    parser.add_argument("--truncation", type=float, default=1.0, help="the generator's truncation psi")
    args = parser.parse_args()
    torch.set_num_threads(1)
    device = torch.device("cpu")
    start = time.perf_counter()
    model = load_text_model(TOYCLIP, device)
    generator = ganlab.load("toyfaces-64", device).model
    judge = cached_judge("faces", device=device)
    rendered, generated, objects = [], [], []
    for s in range(args.seeds):
        img, labels = rendered_faces(args.n, HELD_OUT_SEED + 100 + s)
        rendered.append(zero_shot_accuracy(face_predictions(model, img), labels))
        img, labels = generated_faces(generator, judge, args.n, 5_000_000 + s * args.n, args.truncation)
        generated.append(zero_shot_accuracy(face_predictions(model, img), labels))
        objects.append(object_accuracy(model, args.n // 2, HELD_OUT_SEED + 200 + s))
    print(f"toy CLIP zero-shot accuracy ({args.seeds} x {args.n} faces; generator truncation {args.truncation}); "
          f"{describe_machine(device)}")
    print(f"{'attribute':<12} {'(a) rendered':>16} {'(b) toyfaces-64':>16}")
    for name in rendered[0]:
        cells = []
        for runs in (rendered, generated):
            v = np.array([r[name] for r in runs])
            cells.append(f"{v.mean():.3f} ± {v.std():.3f}")
        print(f"{name:<12} {cells[0]:>16} {cells[1]:>16}")
    v = np.array(objects)
    print(f"{'object class':<12} {f'{v.mean():.3f} ± {v.std():.3f}':>16} {'':>16}")
    print(f"({time.perf_counter() - start:.0f} s)")


if __name__ == "__main__":
    main()
