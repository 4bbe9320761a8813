"""Pick a stored latent in Edit, move a slider, and see the edited image change; learn a conditioned direction."""

from __future__ import annotations

import pytest

from tests.browser.conftest import add_samples

pytestmark = pytest.mark.browser


def _move_first_ganspace_slider(page, value: str) -> str:
    """Show GANSpace sliders, set the first to `value`, wait for the edited picture; returns its src."""
    page.get_by_text("GANSpace (PCA of w)").click()
    page.wait_for_function("document.querySelector('#edit-slider-0')?.innerText.includes('ganspace')",
                           timeout=120_000)
    page.wait_for_selector("#edit-view img", timeout=60_000)
    before = page.get_attribute("#edit-view img", "src")
    number = page.locator("#edit-slider-0 input[type=number]")
    number.fill(value)
    number.press("Enter")
    page.wait_for_function(
        "(b) => document.querySelector('#edit-view img')?.getAttribute('src') !== b", arg=before, timeout=60_000)
    return page.get_attribute("#edit-view img", "src")


def test_moving_a_slider_changes_the_edited_image(page, screenshot):
    add_samples(page, [0])
    page.get_by_role("tab", name="Edit").click()
    _move_first_ganspace_slider(page, "4")
    screenshot("edit_tab")


def _choose(page, dropdown: str, names: list[str]) -> None:
    for name in names:
        page.click(f"#{dropdown} input")
        page.locator(f"#{dropdown} [role=option][aria-label='{name}']").click()
    page.keyboard.press("Escape")


def test_learning_a_direction_from_two_groups_adds_a_slider(page, screenshot):
    add_samples(page, [0, 1, 2, 3])
    page.get_by_role("tab", name="Edit").click()
    page.get_by_text("Learn a direction from two groups: stored latents or photos").click()
    _choose(page, "edit-group-a", ["toyfaces-64-seed0", "toyfaces-64-seed1"])
    _choose(page, "edit-group-b", ["toyfaces-64-seed2", "toyfaces-64-seed3"])
    page.fill("#edit-new-name textarea", "my smile")
    page.wait_for_function("document.querySelector('#edit-latent input')?.value", timeout=60_000)
    _choose(page, "edit-keep", ["beard"])
    page.click("#edit-learn")
    page.wait_for_function("document.querySelector('#edit-status')?.innerText.includes('Learned')", timeout=60_000)
    status = page.inner_text("#edit-status")
    assert "my smile" in status and "cross-validated accuracy" in status
    assert "only 2 positive examples" in status  # two latents a group: said to be a rough guess
    assert "Conditioned on beard" in status
    page.wait_for_function("document.querySelector('#edit-slider-0')?.innerText.includes('my smile')",
                           timeout=60_000)
    screenshot("edit_learned_direction")


def test_the_edit_tab_keeps_its_latent_and_sliders_when_reopened_and_lists_a_saved_edit_at_once(page, screenshot):
    add_samples(page, [0, 1])
    page.get_by_role("tab", name="Edit").click()
    page.wait_for_function("document.querySelector('#edit-latent input')?.value === 'toyfaces-64-seed1'",
                           timeout=60_000)
    page.click("#edit-latent input")  # choose the older latent, not the newest the tab opened with
    page.locator("#edit-latent [role=option][aria-label='toyfaces-64-seed0']").click()
    edited = _move_first_ganspace_slider(page, "3")

    page.fill("#edit-save-name textarea", "smiling")
    page.click("#edit-save")
    page.wait_for_function("document.querySelector('#edit-status')?.innerText.includes('Saved as')", timeout=60_000)
    page.click("#edit-latent input")  # the saved edit is listed at once, without leaving the tab
    assert page.locator("#edit-latent [role=option][aria-label='smiling']").count() == 1
    page.keyboard.press("Escape")

    page.get_by_role("tab", name="Session").click()
    page.wait_for_function("document.querySelector('#session-gallery')?.innerText.includes('smiling')",
                           timeout=30_000)
    page.get_by_role("tab", name="Edit").click()
    page.wait_for_timeout(2000)  # time for a refresh that would wrongly reset the tab to show itself
    assert page.input_value("#edit-latent input") == "toyfaces-64-seed0"
    assert page.locator("#edit-slider-0 input[type=number]").input_value() == "3"
    assert page.get_attribute("#edit-view img", "src") == edited
    screenshot("edit_tab_reopened")


def test_a_direction_is_learned_from_two_groups_of_uploaded_photos(page, screenshot, tmp_path):
    import ganlab

    lab = ganlab.load("toyfaces-64", device="cpu")
    groups = {}
    for group, amount, seeds in (("smiling", 3.0, range(30, 34)), ("frowning", -3.0, range(40, 44))):
        groups[group] = []
        for latent in lab.sample(seeds):
            path = tmp_path / f"{group}-{latent.name}.png"
            lab.render(lab.edit(latent, {"smile": amount})).save(path)
            groups[group].append(str(path))
    add_samples(page, [0])
    page.get_by_role("tab", name="Edit").click()
    page.wait_for_function("document.querySelector('#edit-latent input')?.value", timeout=60_000)
    page.get_by_text("Learn a direction from two groups: stored latents or photos").click()
    page.set_input_files("#edit-photos-a input[type=file]", groups["smiling"])
    page.set_input_files("#edit-photos-b input[type=file]", groups["frowning"])
    page.wait_for_function("document.querySelectorAll('#edit-photos-b a').length >= 4", timeout=30_000)
    page.fill("#edit-new-name textarea", "photo smile")  # after the uploads: the page has settled, the name sticks
    page.press("#edit-new-name textarea", "Tab")
    page.wait_for_function("document.querySelector('#edit-new-name textarea')?.value === 'photo smile'")
    page.click("#edit-learn-photos")
    page.wait_for_function("document.querySelector('#edit-status')?.innerText.includes('Learned')", timeout=120_000)
    assert "photo smile" in page.inner_text("#edit-status")
    page.wait_for_function("document.querySelector('#edit-slider-0')?.innerText.includes('photo smile')",
                           timeout=60_000)
    screenshot("edit_learned_from_photos")
