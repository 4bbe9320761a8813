"""Landmark backends on this machine: faces/s each, and how far FAN and dlib disagree.

Run: python -m benchmarks.align [--repeats 2]
Photos: scikit-image's astronaut plus ../shared/testdata/faces/raw/* when present. Times cover
detection + 68 landmarks per photo (backend loading excluded). The disagreement is the mean
point-to-point distance between matched faces as a fraction of the inter-ocular distance.
"""

from __future__ import annotations

import argparse
import platform
import time
from pathlib import Path

import numpy as np
from PIL import Image
from skimage import data

from ganlab.align import Face, detect_faces, fan_status, get_backend, load_image

RAW = Path(__file__).resolve().parent.parent.parent / "shared" / "testdata" / "faces" / "raw"


def photos() -> list[tuple[str, Image.Image]]:
    found = [("astronaut", Image.fromarray(data.astronaut()))]
    if RAW.is_dir():
        found += [(p.name, load_image(p)) for p in sorted(RAW.iterdir()) if p.suffix.lower() in {".jpg", ".png"}]
    return found


def run_backend(name: str, images: list[tuple[str, Image.Image]], repeats: int) -> dict[str, list[Face]]:
    """Faces per photo; prints load time and faces/s."""
    start = time.perf_counter()
    get_backend(name)
    load_s = time.perf_counter() - start
    faces: dict[str, list[Face]] = {}
    start = time.perf_counter()
    for _ in range(repeats):
        for label, img in images:
            faces[label] = detect_faces(img, backend=name).faces
    seconds = time.perf_counter() - start
    count = repeats * sum(len(f) for f in faces.values())
    print(f"{name:<5} load {load_s:5.2f} s   {count / seconds:6.2f} faces/s   "
          f"{repeats * len(images) / seconds:6.2f} photos/s   ({count} faces in {seconds:.1f} s)")
    return faces


def inter_ocular(points: np.ndarray) -> float:
    return float(np.hypot(*(points[42:48].mean(0) - points[36:42].mean(0))))


def disagreement(a: dict[str, list[Face]], b: dict[str, list[Face]]) -> list[float]:
    """Per matched face (nearest box centre within half a box width): mean distance / inter-ocular distance."""
    out = []
    for label, faces in a.items():
        for fa in faces:
            ca = np.reshape(fa.box, (2, 2)).mean(0)
            best = min(b.get(label, []), key=lambda fb: np.hypot(*(np.reshape(fb.box, (2, 2)).mean(0) - ca)),
                       default=None)
            if best is None or np.hypot(*(np.reshape(best.box, (2, 2)).mean(0) - ca)) > 0.5 * (fa.box[2] - fa.box[0]):
                continue
            out.append(float(np.hypot(*(fa.points - best.points).T).mean()) / inter_ocular(fa.points))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    images = photos()
    print(f"# face landmarks on {platform.processor() or platform.machine()}, {len(images)} photos")
    results = {"dlib": run_backend("dlib", images, args.repeats)}
    status = fan_status()
    if status.available:
        results["fan"] = run_backend("fan", images, args.repeats)
    else:
        print(f"fan   skipped: {status.reason}")
    if len(results) == 2:
        d = disagreement(results["dlib"], results["fan"])
        print(f"dlib vs fan: mean landmark distance {np.mean(d):.4f} x inter-ocular distance "
              f"(median {np.median(d):.4f}, {len(d)} matched faces)")
    else:
        print("dlib vs fan: not measured, FAN is unavailable")


if __name__ == "__main__":
    main()
