"""The HTML report of an analysis: TRIPOD+AI item numbers that exist, the validation stated first,
and no claim the tool cannot know."""
from __future__ import annotations

import json
import re

import pytest

from core.analysis import run_analysis
from core.report import render
from core.stats.simulate import simulate_cohort

# Every item of the TRIPOD+AI checklist (Collins et al., BMJ 2024;385:e078378), lettered sub-items included.
TRIPOD_AI = {"1", "2", "3a", "3b", "3c", "4", "5a", "5b", "6a", "6b", "6c", "7", "8a", "8b", "8c", "9a", "9b", "9c",
             "10", "11", "12a", "12b", "12c", "12d", "12e", "12f", "12g", "13", "14", "15", "16", "17", "18a", "18b",
             "18c", "18d", "18e", "18f", "19", "20a", "20b", "20c", "21", "22", "23a", "23b", "24", "25", "26", "27a",
             "27b", "27c"}


@pytest.fixture(scope="module")
def report():
    clinical, features = simulate_cohort(160, n_features=200, seed=3)
    result = run_analysis(clinical.iloc[:110], features.iloc[:110], {"B": (clinical.iloc[110:], features.iloc[110:])},
                          train_name="A", cv_folds=5, n_lambda=30, bootstrap=8, dca_bootstrap=5, workers=1)
    return render(json.loads(json.dumps(result.to_dict(), allow_nan=False)), kind="analysis")


def test_every_tripod_item_cited_exists(report):
    cited = re.findall(r"TRIPOD\+AI ([0-9a-z, ]+)</span>", report)
    assert cited, "sections name their TRIPOD+AI items"
    items = {i.strip() for group in cited for i in group.split(",")}
    assert items <= TRIPOD_AI, f"not TRIPOD+AI items: {sorted(items - TRIPOD_AI)}"
    assert {"12c", "23a", "22", "26"} <= items


def test_the_validation_comes_first_and_names_its_mode(report):
    first = report.index("<h2>")
    assert report[first:].startswith("<h2>Internal validation at a glance")
    summary = report[first:report.index("<h2>", first + 1)]
    assert "8 replicates" in summary and "every fitted step repeated" in summary
    assert "corrected calibration slope" in summary and "Selection stability" in summary


def test_no_claim_the_tool_cannot_know(report):
    assert "without knowledge of the radiomics predictors" not in report
    assert "are not recorded by this tool" in report
