"""Nothing a visitor stored is lost when the app is killed: the browser keeps its session's token."""

from __future__ import annotations

import pytest

from tests.browser.conftest import _free_port, add_samples, launch_app, stop_app

pytestmark = pytest.mark.browser


def test_latents_survive_a_kill_9_and_a_reload_in_the_same_browser(browser, tmp_path):
    port = _free_port()
    state = str(tmp_path / "state")
    proc = launch_app(port, tmp_path, GANLAB_STATE=state)
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    try:
        page = context.new_page()
        page.goto(f"http://127.0.0.1:{port}/")
        page.wait_for_selector("text=ganlab", timeout=60_000)
        add_samples(page, [5])
        proc.kill()  # SIGKILL: no shutdown code runs
        proc.wait(timeout=15)
        proc = launch_app(port, tmp_path, GANLAB_STATE=state)
        page.reload()
        page.wait_for_selector("text=ganlab", timeout=60_000)
        page.get_by_role("tab", name="Session").click()
        page.wait_for_function("document.querySelector('#session-gallery')?.innerText.includes('seed5')",
                               timeout=60_000)
        other = browser.new_context().new_page()  # another browser sees none of it
        other.goto(f"http://127.0.0.1:{port}/")
        other.wait_for_selector("text=ganlab", timeout=60_000)
        other.get_by_role("tab", name="Session").click()
        other.wait_for_timeout(3000)
        assert "seed5" not in other.inner_text("#session-gallery")
    finally:
        context.close()
        stop_app(proc)
