"""Every numeric option of the command line refuses inf, nan and absurd values through argparse:
a usage message naming the option, the range and the value, exit code 2, no traceback, no write."""
from __future__ import annotations

import pytest

from tests.hardening_store.conftest import SETTINGS, feature_study, run, snapshot


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    return feature_study(tmp_path_factory.mktemp("numeric") / "s.duckdb", ["P1", "P2"], [1, 0], SETTINGS)


NUMERIC = [
    (["analyze", "--train", "T"], "--top-k", ["0", "inf", "-3"]),
    (["analyze", "--train", "T"], "--spearman", ["inf", "nan", "0", "-0.5", "1.5", "1e999"]),
    (["analyze", "--train", "T"], "--univariate-p", ["nan", "0", "2"]),
    (["analyze", "--train", "T"], "--cv-folds", ["1", "inf"]),
    (["analyze", "--train", "T"], "--bootstrap", ["-1", "1e3"]),
    (["analyze", "--train", "T"], "--seed", ["-1", "nan", "4294967296"]),
    (["extract", "--center", "T"], "--workers", ["0", "-2", "inf"]),
    (["segment", "export", "--center", "T"], "--dataset-id", ["0", "1000"]),
    (["segment", "export", "--center", "T"], "--test-fraction", ["1", "nan", "-0.1", "inf"]),
    (["segment", "export", "--center", "T"], "--folds", ["1"]),
    (["segment", "export", "--center", "T"], "--seed", ["-5"]),
    (["segment", "train"], "--epochs", ["0", "inf"]),
    (["segment", "train"], "--fold", ["-1"]),
    (["segment", "train"], "--da-workers", ["-1"]),
    (["segment", "predict", "--center", "T"], "--tile-step", ["0", "inf", "1.5", "nan"]),
]


@pytest.mark.parametrize("verb, option, value", [(v, o, x) for v, o, values in NUMERIC for x in values],
                         ids=lambda x: x if isinstance(x, str) else " ".join(x))
def test_absurd_numeric_option_is_refused_by_argparse(study, verb, option, value):
    before = snapshot(study)
    code, out, err = run([*verb, "--study", str(study), f"{option}={value}"])
    assert code == 2 and not out
    assert f"error: argument {option}: expected a " in err and f"got {value!r}" in err
    assert "Traceback" not in err
    assert snapshot(study) == before
