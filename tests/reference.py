"""Where the published reference data lives: <repo>/../shared/reference (see its README).

Tests call ``reference_file("proc", "aSAH.csv")``, which skips the test with a clear reason
when the folder or file is absent.
"""
from pathlib import Path

import pytest

REFERENCE = Path(__file__).resolve().parents[1] / ".." / "shared" / "reference"


def reference_file(*parts: str) -> Path:
    """Path of a reference file; skips the calling test when it is absent."""
    path = REFERENCE.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"reference data not found: {path.resolve()} (expected at <repo>/../shared/reference)")
    return path
