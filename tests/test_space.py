"""The README's Hugging Face Space front matter points at the app and at the Gradio the app is built for."""

from __future__ import annotations

from pathlib import Path

import gradio
import yaml
from packaging.specifiers import SpecifierSet

REPO = Path(__file__).resolve().parent.parent


def test_front_matter_names_the_app_and_this_gradio():
    text = (REPO / "README.md").read_text()
    assert text.startswith("---\n")
    meta = yaml.safe_load(text.split("---\n")[1])
    assert meta["sdk"] == "gradio" and (REPO / meta["app_file"]).is_file()
    assert str(meta["sdk_version"]).split(".")[0] == gradio.__version__.split(".")[0]
    requirement = next(line for line in (REPO / "requirements.txt").read_text().splitlines()
                       if line.startswith("gradio"))
    assert str(meta["sdk_version"]) in SpecifierSet(requirement.removeprefix("gradio"))  # the Space installs it
