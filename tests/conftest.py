"""Shared fixtures: where the golden vectors and the test photos live (../shared beside the repo)."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SHARED = REPO.parent / "shared"
GOLDEN = SHARED / "golden"
TESTDATA = SHARED / "testdata"


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
