"""The README's "Use it from Python" example runs exactly as written, on a real photo."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
from PIL import Image

REPO = Path(__file__).resolve().parents[2]


def readme_example() -> str:
    text = (REPO / "README.md").read_text()
    section = text.split("## Use it from Python", 1)[1]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)


def test_the_python_example_in_the_readme_runs_as_written(testdata_dir, tmp_path):
    shutil.copy(testdata_dir / "faces" / "raw" / "test_images__shea_whigham__1.jpg", tmp_path / "photo.jpg")
    (tmp_path / "example.py").write_text(readme_example())
    env = {"GANLAB_OFFLINE": "1", "PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    done = subprocess.run([sys.executable, "example.py"], cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    steps = [line.split() for line in done.stdout.splitlines() if line.strip()]
    assert [int(s[0]) for s in steps][-1] == 100 and all(float(s[1]) > 0 for s in steps)
    photo = Image.open(tmp_path / "photo.jpg")
    edited = Image.open(tmp_path / "edited_photo.png")
    assert edited.size == photo.size
    assert not np.array_equal(np.asarray(edited.convert("RGB")), np.asarray(photo.convert("RGB")))
    assert (tmp_path / "morph.mp4").stat().st_size > 1000
    saved = sorted(p.name for p in (tmp_path / "my-toyfaces").iterdir())
    assert saved == ["config.json", "directions.npz", "encoder", "landscape", "model.safetensors"]
