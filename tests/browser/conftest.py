"""Start the real app on a free localhost port and drive it with Debian's chromium through playwright."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest


REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "test-artifacts"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def launch_app(port: int, folder: Path, **env_extra: str) -> subprocess.Popen:
    """`python app.py` on 127.0.0.1:`port` (cache and log under `folder`), once it answers."""
    log = folder / f"app-{port}-{time.time_ns()}.log"
    env = {**os.environ, "GRADIO_SERVER_PORT": str(port), "GANLAB_OFFLINE": "1",
           "GANLAB_CACHE": str(folder / "cache"), "GRADIO_ANALYTICS_ENABLED": "False", **env_extra}
    with open(log, "w") as out:
        proc = subprocess.Popen([sys.executable, "app.py"], cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/"
    deadline = time.time() + 120
    while time.time() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"app exited early:\n{log.read_text()[-3000:]}")
        try:
            urllib.request.urlopen(url, timeout=2)
            return proc
        except OSError:
            time.sleep(0.5)
    proc.kill()
    pytest.fail(f"app did not answer within 120 s:\n{log.read_text()[-3000:]}")


def stop_app(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()


@pytest.fixture(scope="session")
def app_url(tmp_path_factory):
    """The app, started as `python app.py` would be, on a free port; stopped after the session."""
    port = _free_port()
    proc = launch_app(port, tmp_path_factory.mktemp("app"))
    yield f"http://127.0.0.1:{port}/"
    stop_app(proc)


@pytest.fixture
def page(browser, app_url):
    ctx = browser.new_context(viewport={"width": 1280, "height": 900})
    pg = ctx.new_page()
    pg.goto(app_url)
    pg.wait_for_selector("text=ganlab", timeout=60_000)
    yield pg
    ctx.close()


@pytest.fixture
def screenshot(page):
    """Save a full-page screenshot under test-artifacts/ (evidence of what users see)."""
    def take(name: str) -> Path:
        ARTIFACTS.mkdir(exist_ok=True)
        path = ARTIFACTS / f"{name}.png"
        page.screenshot(path=str(path), full_page=True)
        return path
    return take


def add_samples(page, seeds: list[int]) -> None:
    """Add generator samples of toyfaces-64 to the page's session through the Session tab.

    Right after the tab opens, the seed box can fall back to its initial 0 before the click reads it (a
    race in the page, not the handler): a sample that does not appear is asked for again, at most 3 times.
    """
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    page.get_by_role("tab", name="Session").click()
    page.get_by_text("Add a generator sample").click()
    box = page.locator("#session-seed input")
    for seed in seeds:
        for attempt in range(3):
            box.fill(str(seed))
            box.press("Enter")
            page.click("#session-add-sample")
            try:
                page.wait_for_function(
                    f"document.querySelector('#session-gallery')?.innerText.includes('seed{seed}')",
                    timeout=60_000 if attempt == 2 else 15_000)
                break
            except PlaywrightTimeout:
                if attempt == 2:
                    raise
