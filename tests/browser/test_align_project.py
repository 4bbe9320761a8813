"""Upload a photo, align it, project it with a live preview, paste the edited face back, then invert instantly."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from skimage import data

pytestmark = pytest.mark.browser


def test_upload_align_send_and_project_with_live_preview(page, screenshot, tmp_path):
    photo = tmp_path / "astronaut16.png"  # 16-bit grey: the page must read it as ganlab's loader does
    grey = cv2.cvtColor(data.astronaut(), cv2.COLOR_RGB2GRAY).astype(np.uint16) * 257
    assert cv2.imwrite(str(photo), grey)
    page.set_input_files("#align-input input[type=file]", str(photo))
    page.click("#align-run")
    page.wait_for_function("document.querySelector('#align-status')?.innerText.includes('found with')",
                           timeout=120_000)
    assert "2 faces" in page.inner_text("#align-status")
    screenshot("align_tab")

    page.click("#align-send")
    page.wait_for_selector("#project-target img", timeout=30_000)
    steps = page.locator("#project-steps input[type=number]")
    steps.fill("30")
    steps.press("Enter")
    page.click("#project-start")
    page.wait_for_function("document.querySelector('#project-status')?.innerText.includes('Step')",
                           timeout=120_000)
    page.wait_for_selector("#project-view img", timeout=60_000)
    first = page.get_attribute("#project-view img", "src")
    page.wait_for_function("document.querySelector('#project-status')?.innerText.includes('Done')",
                           timeout=240_000)
    last = page.get_attribute("#project-view img", "src")
    assert first != last
    status = page.inner_text("#project-status")
    assert "PSNR" in status and "Stored in this session" in status and "fallback" in status.lower()
    screenshot("project_tab")

    page.get_by_role("tab", name="Edit").click()
    page.wait_for_function("document.querySelector('#edit-latent input')?.value === 'projection'", timeout=30_000)
    page.get_by_text("Paste the edited face back into the original photo").click()
    page.click("#edit-paste")
    page.wait_for_selector("#edit-pasted img", timeout=60_000)
    screenshot("edit_paste_back")

    page.get_by_role("tab", name="Project").click()
    page.get_by_text("Encoder only (instant)").click()
    page.fill("#project-name textarea", "encoded")
    page.click("#project-start")
    page.wait_for_function("document.querySelector('#project-status')?.innerText.includes('Done after 0 steps')",
                           timeout=60_000)
    assert "encoded" in page.inner_text("#project-status")
