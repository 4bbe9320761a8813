"""The page with a real model that is not here yet: choose stylegan2-ffhq-256 in Project, watch it download
(progress on the page), project an aligned real photo, then paste an edit back, as with the demo model."""

from __future__ import annotations

import pytest

from tests.browser.conftest import _free_port, launch_app, stop_app
from tests.realscale.conftest import FFHQ_256, no_real_network

pytestmark = pytest.mark.browser

PKL = "ffhq-res256-mirror-paper256-noaug.pkl"


@pytest.fixture
def app(server, models_file, tmp_path):
    port = _free_port()
    proc = launch_app(port, tmp_path, GANLAB_OFFLINE="0", GANLAB_MODELS=str(models_file),
                      **no_real_network(tmp_path / "torch"))
    yield f"http://127.0.0.1:{port}/"
    stop_app(proc)


def test_a_real_model_downloads_with_progress_then_projects_and_pastes_back(app, browser, server, testdata_dir):
    from tests.browser.conftest import ARTIFACTS

    server.faults.pace[PKL] = 0.03  # about 9 s for the 282 MiB: long enough to be seen on the page
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    try:
        page.goto(app)
        page.wait_for_selector("text=ganlab", timeout=60_000)
        page.set_input_files("#align-input input[type=file]",
                             str(testdata_dir / "faces" / "raw" / "test_images__kate_siegel__1.jpg"))
        page.click("#align-run")
        page.wait_for_function("document.querySelector('#align-status')?.innerText.includes('found with')",
                               timeout=120_000)
        page.click("#align-send")
        page.wait_for_selector("#project-target img", timeout=30_000)

        page.locator("#project-model input").click()
        page.locator(f"#project-model [role=option][aria-label='{FFHQ_256} (downloads on first use)']").click()
        page.click("#project-start")
        said = page.wait_for_function(  # the text as it was when it said so (it changes every half second)
            "(() => { const t = document.querySelector('#project-status')?.innerText || '';"
            " return t.includes('Downloading') ? t : false; })()", timeout=60_000).json_value()
        assert PKL in said and "of 296 MB" in said
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "realscale_download_progress.png"), full_page=True)
        page.wait_for_function("document.querySelector('#project-status')?.innerText.includes('Step 2 /')",
                               timeout=180_000)
        page.click("#project-stop")  # a few steps at 256 px are enough: Stop keeps what was found
        page.wait_for_function("document.querySelector('#project-status')?.innerText.includes('Done')",
                               timeout=120_000)
        assert "Stored in this session" in page.inner_text("#project-status")
        page.screenshot(path=str(ARTIFACTS / "realscale_project.png"), full_page=True)

        page.get_by_role("tab", name="Edit").click()
        page.wait_for_function("document.querySelector('#edit-latent input')?.value === 'projection'",
                               timeout=30_000)
        page.get_by_text("Paste the edited face back into the original photo").click()
        page.click("#edit-paste")
        page.wait_for_selector("#edit-pasted img", timeout=120_000)
        page.screenshot(path=str(ARTIFACTS / "realscale_paste_back.png"), full_page=True)
        assert [name for name, _ in server.faults.requests] == [PKL]
    finally:
        context.close()
