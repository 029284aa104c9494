"""Shared fixtures: the reference data folder and small synthetic cohorts."""
from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
REFERENCE = ROOT.parent / "shared" / "reference"


@pytest.fixture(scope="session")
def reference() -> Path:
    """The shared reference data (published values of established tools); skip when absent."""
    if not REFERENCE.is_dir():
        pytest.skip(f"reference data not found at {REFERENCE}")
    return REFERENCE


def pytest_collection_modifyitems(items):
    """Browser tests run last: they are the slowest and need everything else to work."""
    items.sort(key=lambda item: item.get_closest_marker("browser") is not None)
