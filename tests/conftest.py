"""Shared fixtures: where the golden vectors and the test photos live (../shared beside the repo)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SHARED = REPO.parent / "shared"
GOLDEN = SHARED / "golden"
TESTDATA = SHARED / "testdata"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]


@pytest.fixture(scope="session")
def golden_dir() -> Path:
    """`../shared/golden`; tests that need it skip with the reason when it is absent."""
    if not GOLDEN.is_dir():
        pytest.skip(f"golden vectors not found at {GOLDEN} (they live in ../shared/golden beside the repo)")
    return GOLDEN


@pytest.fixture(scope="session")
def testdata_dir() -> Path:
    """`../shared/testdata` (research-only photos, never copied into the project)."""
    if not TESTDATA.is_dir():
        pytest.skip(f"test photos not found at {TESTDATA}")
    return TESTDATA


@pytest.fixture(scope="session")
def browser():
    """Debian's chromium through playwright, one for the whole run (tests/browser and tests/realscale)."""
    if not Path(CHROMIUM).exists():
        pytest.skip("Debian chromium is not installed (scripts/install_test_deps.sh installs it)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()
