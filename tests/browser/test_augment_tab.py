"""Invert a toy-object image into BigGAN, make a gallery, download the zip and read its labels.csv."""

from __future__ import annotations

import csv
import io
import zipfile

import pytest
from PIL import Image

from ganlab.data.toyobjects import render_objects

pytestmark = pytest.mark.browser


def test_invert_then_gallery_zip_with_labels(page, screenshot, tmp_path):
    images, _ = render_objects(1, 4242)
    source = tmp_path / "object.png"
    Image.fromarray(images[0]).save(source)
    page.get_by_role("tab", name="Augment").click()
    page.set_input_files("#augment-input input[type=file]", str(source))
    steps = page.locator("#augment-steps input[type=number]")
    steps.fill("20")
    steps.press("Enter")
    page.fill("#augment-class input", "")
    page.locator("#augment-class input").press_sequentially("sta")  # typing filters the model's classes
    page.wait_for_function("(n => n > 0 && n < 4)(document.querySelectorAll('#augment-class [role=option]').length)",
                           timeout=30_000)  # of the model's 10 classes and auto, the few that match
    page.locator("#augment-class [role=option][aria-label='star']").click()
    page.click("#augment-invert")
    page.wait_for_function("document.querySelector('#augment-status')?.innerText.includes('Inverted')",
                           timeout=180_000)
    page.click("#augment-make")
    link = page.locator("#augment-files a[download$='.zip']")
    link.wait_for(timeout=180_000)
    with page.expect_download() as info:
        link.click()
    path = tmp_path / "augmentations.zip"
    info.value.save_as(path)
    with zipfile.ZipFile(path) as archive:
        rows = list(csv.DictReader(io.StringIO(archive.read("labels.csv").decode())))
        pngs = [n for n in archive.namelist() if n.endswith(".png")]
    assert rows and len(rows) == len(pngs)
    assert {r["transform"] for r in rows} == {"zoom", "slide_left", "slide_right"}
    assert all(r["class"] == "star" for r in rows)
    screenshot("augment_tab")
