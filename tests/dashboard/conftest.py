"""The dashboard's AppTests run on their own copy of the small demo study (see tests/conftest.py)."""
from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import build_demo_study

ROOT = Path(__file__).resolve().parents[2]
APP = ROOT / "dashboard" / "app.py"


@pytest.fixture(scope="session")
def demo_study(tmp_path_factory) -> Path:
    """The dashboard's own demo study (its tests add analyses, jobs and centres to it)."""
    return build_demo_study(tmp_path_factory.mktemp("dashboard-study"))


@pytest.fixture
def app(demo_study, monkeypatch):
    """An AppTest of the dashboard on the demo study (first page: Study)."""
    from streamlit.testing.v1 import AppTest

    monkeypatch.setenv("PTLF_STUDY", str(demo_study))
    at = AppTest.from_file(str(APP), default_timeout=60)
    at.run()
    return at
