"""The analysis refuses a training cohort it cannot learn from, saying why, before it writes anything:
the study stays byte for byte as it was."""
from __future__ import annotations

import pytest

from core.store import Study
from tests.hardening_store.conftest import SETTINGS, feature_study, ids, run, snapshot


ANALYZE = ["--bootstrap", "0", "--clinical-predictors", "inr", "alb"]


@pytest.mark.parametrize("events, message", [
    (1, "training centre 'T' has only 1 event (ptlf = 1) and 11 without among the 12 patients with an outcome "
        "and radiomics features: the analysis needs at least 2 patients with and 2 without an event"),
    (0, "training centre 'T' has only 0 events (ptlf = 1) and 12 without among the 12 patients"),
    (11, "training centre 'T' has only 11 events (ptlf = 1) and 1 without among the 12 patients"),
])
def test_too_few_events_are_named_and_nothing_is_written(tmp_path, events, message):
    study = feature_study(tmp_path / "s.duckdb", ids(12), [1] * events + [0] * (12 - events), SETTINGS)
    before = snapshot(study)
    code, _, err = run(["analyze", "--study", str(study), "--train", "T", "--cv-folds", "2", *ANALYZE])
    assert code == 2 and err.startswith(f"error: {message}"), err
    assert "no feature left" not in err
    assert snapshot(study) == before


def test_folds_above_the_smaller_group_are_refused_with_the_largest_allowed(tmp_path):
    study = feature_study(tmp_path / "s.duckdb", ids(20), [1] * 3 + [0] * 17, SETTINGS)
    before = snapshot(study)
    code, _, err = run(["analyze", "--study", str(study), "--train", "T", "--cv-folds", "5", *ANALYZE])
    assert code == 2
    assert ("has 3 events (ptlf = 1) and 17 without among the 20 patients with an outcome and radiomics features: "
            "LASSO's 5-fold cross-validation needs at least 5 patients in the smaller group; lower the folds "
            "(--cv-folds) to 3 or fewer") in err
    assert snapshot(study) == before


def test_unknown_predictor_and_centre_are_refused_before_any_job(tmp_path):
    study = feature_study(tmp_path / "s.duckdb", ids(20), [0, 1] * 10, SETTINGS)
    before = snapshot(study)
    code, _, err = run(["analyze", "--study", str(study), "--train", "T", "--cv-folds", "5", "--bootstrap", "0",
                        "--clinical-predictors", "inr", "bilirubin"])
    assert code == 2 and "training centre 'T' has no clinical variable bilirubin (its variables: alb, inr)" in err
    code, _, err = run(["analyze", "--study", str(study), "--train", "T", "--validate", "nowhere", *ANALYZE])
    assert code == 2 and "no centre 'nowhere'" in err
    assert snapshot(study) == before
    with Study.open(study, read_only=True) as opened:
        assert opened.jobs.list().empty
