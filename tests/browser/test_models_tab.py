"""The app starts, answers on localhost, lists the models with their status and generates a sample."""

from __future__ import annotations

import urllib.request

import pytest

pytestmark = pytest.mark.browser


def test_app_answers_on_its_port(app_url):
    html = urllib.request.urlopen(app_url, timeout=10).read().decode()
    assert "ganlab" in html


def test_models_tab_lists_models_with_status_and_generates_a_sample(page, screenshot):
    page.get_by_role("tab", name="Models").click()
    table = page.locator("#models-table")
    table.wait_for(timeout=30_000)
    text = table.inner_text()
    assert "toyfaces-64" in text and "stylegan2-ffhq-1024" in text
    assert "ready" in text and "MISSING" in text
    page.click("#models-generate")
    page.wait_for_selector("#models-sample img", timeout=60_000)
    assert page.locator("#models-sample img").get_attribute("src")
    screenshot("models_tab")


def test_an_uploaded_checkpoint_is_listed_sampled_and_removed(page, screenshot, golden_dir):
    page.get_by_role("tab", name="Models").click()
    page.set_input_files("#models-upload input[type=file]", str(golden_dir / "stylegan2_ada" / "tiny_snapshot.pkl"))
    page.wait_for_function("document.querySelector('#models-table')?.innerText.includes('user-tiny_snapshot')",
                           timeout=60_000)
    page.click("#models-generate")  # the upload is the chosen model now
    page.wait_for_selector("#models-sample img", timeout=60_000)
    screenshot("models_upload")
    page.click("#models-remove")
    page.wait_for_function("!document.querySelector('#models-table')?.innerText.includes('user-tiny_snapshot')",
                           timeout=30_000)
