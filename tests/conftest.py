"""Shared fixtures: the reference data folder and small synthetic cohorts."""
from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
REFERENCE = ROOT.parent / "shared" / "reference"


@pytest.fixture(scope="session", autouse=True)
def key_home(tmp_path_factory):
    """A signing key pair of the test run's own (bundles are signed; never the user's real key folder)."""
    with pytest.MonkeyPatch.context() as patch:
        folder = tmp_path_factory.mktemp("key-home")
        patch.setenv("PTLF_HOME", str(folder))
        yield folder


@pytest.fixture(scope="session")
def reference() -> Path:
    """The shared reference data (published values of established tools); skip when absent."""
    if not REFERENCE.is_dir():
        pytest.skip(f"reference data not found at {REFERENCE}")
    return REFERENCE


# Small cohorts: fewer CV folds than events, the paper's clinical predictors, a short bootstrap.
ANALYSIS_PARAMS = {"cv_folds": 5, "bootstrap": 20, "clinical_predictors": ("inr", "alb")}
# The demo generator's seed for small cohorts (scale 0.15: 22 + 9 patients): one whose radiomics
# signal survives selection at that size, so all three models are fitted (the default seed is
# chosen for the full-size demo).
SMALL_DEMO_SEED = 7


def build_demo_study(folder: Path, scale: float = 0.15) -> Path:
    """Demo study: both centres ingested, quick features extracted, one analysis stored."""
    from core.analysis_cli import run_study_analysis
    from core.cohort.demo import write_demo
    from core.cohort.ingest import ingest
    from core.radiomics.runner import run_extraction
    from core.store import Study

    path = folder / "demo.duckdb"
    written = write_demo(folder / "cohort", seed=SMALL_DEMO_SEED, scale=scale)
    with Study.open(path) as study:
        for cohort, role in written:
            ingest(study, cohort, cohort.name, role)
            run_extraction(study, cohort.name, mask_source="manual", preset="quick")
        run_study_analysis(study, "hospital_a", ["hospital_b"], mask_source="manual", **ANALYSIS_PARAMS)
    return path


@pytest.fixture(scope="session")
def demo_study(tmp_path_factory) -> Path:
    """Path of a small demo study (22 + 9 patients) with features and an analysis; don't modify it."""
    return build_demo_study(tmp_path_factory.mktemp("demo-study"))


def pytest_collection_modifyitems(items):
    """Browser tests run last: they are the slowest and need everything else to work."""
    items.sort(key=lambda item: item.get_closest_marker("browser") is not None)
