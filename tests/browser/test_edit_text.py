"""The Edit tab's words section: a phrase becomes a slider, a latent moves toward a phrase, and a prompt
gives pictures stored in the session."""

from __future__ import annotations

import pytest

from tests.browser.conftest import add_samples

pytestmark = pytest.mark.browser


def _status_says(page, text: str, timeout: int = 120_000) -> str:
    page.wait_for_function("(t) => document.querySelector('#edit-status')?.innerText.includes(t)", arg=text,
                           timeout=timeout)
    return page.inner_text("#edit-status")


def test_a_phrase_becomes_the_first_learned_slider(page, screenshot):
    add_samples(page, [0])
    page.get_by_role("tab", name="Edit").click()
    page.wait_for_function("document.querySelector('#edit-latent input')?.value", timeout=60_000)
    page.fill("#edit-text textarea", "a face with sunglasses")
    page.click("#edit-text-slider")
    status = _status_says(page, "It is the first slider")
    assert "a face with sunglasses" in status and "toyclip-64" in status
    page.wait_for_function("document.querySelector('#edit-slider-0')?.innerText.includes('a face with sunglasses')",
                           timeout=60_000)
    assert "(text)" in page.inner_text("#edit-slider-0")
    screenshot("edit_text_slider")


def test_editing_toward_a_phrase_shows_before_and_after_and_stores_the_result(page, screenshot):
    add_samples(page, [1])
    page.get_by_role("tab", name="Edit").click()
    page.wait_for_function("document.querySelector('#edit-latent input')?.value === 'toyfaces-64-seed1'",
                           timeout=60_000)
    page.wait_for_selector("#edit-view img", timeout=60_000)
    before = page.get_attribute("#edit-view img", "src")
    page.fill("#edit-text textarea", "a bald face")
    page.click("#edit-text-go")
    status = _status_says(page, "stored as")
    assert "toward 'a bald face'" in status and "toyfaces-64-seed1 text" in status
    assert page.get_attribute("#edit-view img", "src") != before
    assert page.input_value("#edit-latent input") == "toyfaces-64-seed1"
    page.click("#edit-latent input")  # the result is listed at once
    assert page.locator("#edit-latent [role=option][aria-label='toyfaces-64-seed1 text']").count() == 1
    page.keyboard.press("Escape")
    screenshot("edit_text_toward")


def test_an_empty_phrase_is_refused_with_a_message(page):
    add_samples(page, [2])
    page.get_by_role("tab", name="Edit").click()
    page.wait_for_function("document.querySelector('#edit-latent input')?.value", timeout=60_000)
    page.click("#edit-text-go")
    page.wait_for_selector("text=the phrase is empty", timeout=60_000)


def test_a_prompt_gives_pictures_stored_in_the_session(page, screenshot):
    page.get_by_role("tab", name="Edit").click()
    page.fill("#edit-text textarea", "a face with a beard")
    page.click("#edit-text-prompt")
    status = _status_says(page, "pictures of 'a face with a beard'", timeout=180_000)
    assert "prompt-0-0" in status
    assert page.locator("#edit-text-gallery img").count() == 6
    page.get_by_role("tab", name="Session").click()
    page.wait_for_function("document.querySelector('#session-gallery')?.innerText.includes('prompt-0-5')",
                           timeout=30_000)
    screenshot("edit_text_prompt")
