"""Pick a stored latent in Edit, move a slider, and see the edited image change."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.browser


def test_moving_a_slider_changes_the_edited_image(page, screenshot):
    page.get_by_role("tab", name="Session").click()
    page.get_by_text("Add a generator sample").click()
    page.click("#session-add-sample")
    page.wait_for_function("document.querySelector('#session-gallery')?.innerText.includes('seed0')",
                           timeout=60_000)
    page.get_by_role("tab", name="Edit").click()
    page.get_by_text("GANSpace (PCA of w)").click()
    page.wait_for_function("document.querySelector('#edit-slider-0')?.innerText.includes('ganspace')",
                           timeout=120_000)
    page.wait_for_selector("#edit-view img", timeout=60_000)
    before = page.get_attribute("#edit-view img", "src")
    number = page.locator("#edit-slider-0 input[type=number]")
    number.fill("4")
    number.press("Enter")
    page.wait_for_function(
        "(b) => document.querySelector('#edit-view img')?.getAttribute('src') !== b", arg=before, timeout=60_000)
    screenshot("edit_tab")
