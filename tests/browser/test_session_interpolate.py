"""Add two samples to the session, make a 10-frame, 256-px interpolation video and download it."""

from __future__ import annotations

import imageio.v2 as imageio
import pytest

from tests.browser.conftest import add_samples

pytestmark = pytest.mark.browser


def test_session_samples_then_ten_frame_video_downloads(page, screenshot, tmp_path):
    add_samples(page, [3, 4])
    page.locator("#session-gallery .thumbnail-item").nth(0).click()  # choosing by picture
    page.wait_for_function("document.querySelector('#session-latent input')?.value === 'toyfaces-64-seed3'",
                           timeout=30_000)
    assert "sample seed 3" in page.inner_text("#session-details")
    screenshot("session_tab")

    page.get_by_role("tab", name="Interpolate").click()
    page.wait_for_function("document.querySelector('#interp-latents')?.innerText.includes('seed4')", timeout=30_000)
    frames = page.locator("#interp-frames input[type=number]")
    frames.fill("10")
    frames.press("Enter")
    page.click("#interp-size input")
    page.get_by_role("option", name="256 px").click()
    page.click("#interp-run")
    page.wait_for_selector("#interp-video video", timeout=120_000)
    link = page.locator("#interp-files a[download$='.mp4']")
    link.wait_for(timeout=60_000)
    with page.expect_download() as info:
        link.click()
    path = tmp_path / "video.mp4"
    info.value.save_as(path)
    video = imageio.mimread(path)
    assert len(video) == 10 and video[0].shape[:2] == (256, 256)
    assert page.locator("#interp-files a[download$='.gif']").count() == 1
    screenshot("interpolate_tab")
