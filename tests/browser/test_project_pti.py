"""Pivotal tuning in the Project tab: its phases stream, Stop keeps the tuning, and Edit says it uses it."""

from __future__ import annotations

import pytest
from PIL import Image

from ganlab.data.toyfaces import render_faces

pytestmark = pytest.mark.browser


def test_pivotal_tuning_streams_its_phases_and_stop_keeps_the_tuning(page, screenshot, tmp_path):
    face = tmp_path / "face.png"
    Image.fromarray(render_faces(1, 10 ** 9 + 9, 64)[0][0]).resize((256, 256)).save(face)
    page.get_by_role("tab", name="Project").click()
    page.set_input_files("#project-target input[type=file]", str(face))
    page.get_by_text("Pivotal tuning: most faithful").click()
    steps = page.locator("#project-steps input[type=number]")
    steps.fill("1000")
    steps.press("Enter")
    page.fill("#project-name textarea", "tuned")
    page.click("#project-start")
    page.wait_for_function("document.querySelector('#project-status')?.innerText.includes('Tuning the weights')",
                           timeout=180_000)
    page.click("#project-stop")
    page.wait_for_function("document.querySelector('#project-status')?.innerText.includes('Done')",
                           timeout=60_000)
    status = page.inner_text("#project-status")
    assert "cancelled" in status and "own tuned generator weights" in status and "tuned" in status
    screenshot("project_pti")

    page.get_by_role("tab", name="Edit").click()
    page.wait_for_function("document.querySelector('#edit-latent input')?.value === 'tuned'", timeout=30_000)
    page.wait_for_function("document.querySelector('#edit-status')?.innerText.includes('pivotal tuning')",
                           timeout=60_000)
