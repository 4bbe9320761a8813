"""Align tab, webcam source: a frame captured from Chromium's fake camera must reach the align handler.

Upload is covered elsewhere; this guards the `sources=["webcam", ...]` path (permission prompt, capture button,
the captured frame's upload). The fake camera shows a test pattern with no face, so the handler's readable
"no face" warning, naming the frame's size, proves the frame arrived intact.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Page

from tests.browser.conftest import ARTIFACTS
from tests.conftest import CHROMIUM, CHROMIUM_ARGS

pytestmark = pytest.mark.browser

FAKE_CAMERA_ARGS = ["--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream"]

# Distinct colours in a 64x64 downscale of the captured image (the fake camera's pattern has several).
DISTINCT_COLOURS_JS = """img => {
    const c = document.createElement('canvas');
    c.width = c.height = 64;
    const ctx = c.getContext('2d');
    ctx.drawImage(img, 0, 0, 64, 64);
    const px = ctx.getImageData(0, 0, 64, 64).data;
    const seen = new Set();
    for (let i = 0; i < px.length; i += 4) seen.add(`${px[i]},${px[i + 1]},${px[i + 2]}`);
    return seen.size;
}"""


@pytest.fixture(scope="module")
def camera_browser(browser: Browser) -> Iterator[Browser]:
    """A second chromium from the same playwright, with a fake camera that needs no permission prompt."""
    b = browser.browser_type.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS + FAKE_CAMERA_ARGS)
    yield b
    b.close()


@pytest.fixture
def camera_page(camera_browser: Browser, app_url: str) -> Iterator[Page]:
    ctx = camera_browser.new_context(viewport={"width": 1280, "height": 900}, permissions=["camera"])
    pg = ctx.new_page()
    pg.goto(app_url)
    pg.wait_for_selector("text=ganlab", timeout=60_000)
    yield pg
    ctx.close()


def test_webcam_capture_reaches_align_handler(camera_page: Page) -> None:
    page = camera_page
    photo = page.locator("#align-input")
    photo.get_by_role("button", name="Capture from camera").click()
    photo.get_by_role("button", name="Click to Access Webcam").click()
    video = photo.locator("video[data-testid=webcam-video]")
    video.wait_for(timeout=30_000)
    page.wait_for_function("v => v.readyState >= 2 && v.videoWidth > 0", arg=video.element_handle(), timeout=30_000)
    width, height = video.evaluate("v => [v.videoWidth, v.videoHeight]")

    photo.get_by_role("button", name="capture photo").click()
    captured = photo.locator(".image-frame img")
    captured.wait_for(timeout=30_000)
    page.wait_for_function("img => img.complete && img.naturalWidth > 0", arg=captured.element_handle(),
                           timeout=30_000)
    assert captured.evaluate("img => [img.naturalWidth, img.naturalHeight]") == [width, height]
    assert captured.evaluate(DISTINCT_COLOURS_JS) > 1, "the captured frame is a single flat colour"

    page.click("#align-run")
    warning = page.get_by_text(f"No face found in the image ({width}x{height}")
    warning.wait_for(timeout=120_000)
    page.wait_for_function("document.querySelector('#align-status')?.innerText.includes('No face found')",
                           timeout=30_000)
    assert "centre crop can be used unaligned" in page.inner_text("#align-status")
    page.locator("#align-faces img").first.wait_for(timeout=30_000)
    body = page.inner_text("body")
    assert "Traceback" not in body and "Error" not in body

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "align-webcam.png"), full_page=True)
