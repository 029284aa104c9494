"""The command line as users run it: ingest errors, info, and the analyze JSON contract."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from core.__main__ import main
from tests.cohort.conftest import make_cohort

ROOT = Path(__file__).resolve().parents[1]


def test_every_verb_has_help(capsys):
    done = subprocess.run([sys.executable, "-m", "core", "--help"], cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0 and "usage: python -m core" in done.stdout
    for verb in ("demo", "ingest", "info", "extract", "features", "segment", "analyze", "bundle", "validate", "risk",
                 "check", "recalibrate", "keys", "robustness"):
        with pytest.raises(SystemExit) as exit_:
            main([verb, "--help"])
        assert exit_.value.code == 0 and f"usage: python -m core {verb}" in capsys.readouterr().out, verb


def test_ingest_lists_problems_and_exits_non_zero(tmp_path, capsys):
    cohort = make_cohort(tmp_path / "c")
    table = pd.read_csv(cohort / "clinical.csv", dtype=str)
    table.loc[0, "INR"] = "high"
    table.to_csv(cohort / "clinical.csv", index=False)
    study = tmp_path / "s.duckdb"
    assert main(["ingest", "--study", str(study), "--center", "A", "--role", "training", "--cohort", str(cohort)]) == 1
    assert "patient P01, column INR: value 'high' is not a number" in capsys.readouterr().err
    assert not study.exists(), "a refused ingest into a new study must not create the study file"


def test_info_json(demo_study, capsys):
    capsys.readouterr()
    assert main(["info", "--study", str(demo_study), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    centres = {c["center"]: c for c in info["centers"]}
    assert centres["hospital_a"]["role"] == "training" and centres["hospital_a"]["events"] > 0
    regions = {f["region"]: f["features"] for f in info["features"] if f["center"] == "hospital_a"}
    assert regions == {"liver": 107, "tumor": 107}


def test_analyze_writes_the_documented_json(demo_study, tmp_path):
    out = tmp_path / "report.json"
    html = tmp_path / "report.html"
    assert main(["analyze", "--study", str(demo_study), "--train", "hospital_a", "--validate", "hospital_b",
                 "--cv-folds", "5", "--bootstrap", "0", "--clinical-predictors", "inr", "alb",
                 "--out", str(out), "--report", str(html)]) == 0
    r = json.loads(out.read_text())
    assert {"variable", "p"} <= set(r["clinical"]["univariate"][0])
    assert r["clinical"]["independent_predictors"] == ["inr", "alb"]
    assert list(r["radiomics"]["counts"].values())[-1] == len(r["radiomics"]["selected"])
    assert all(":" in row["feature"] and "coef" in row for row in r["radiomics"]["selected"])
    assert r["radiomics"]["radscore_formula"].startswith("Radscore = ")
    for name in ("clinical", "radiomics", "combined"):
        assert r["models"][name]["coefficients"]
        for centre in ("hospital_a", "hospital_b"):
            m = r["models"][name]["metrics"][centre]
            assert {"auc", "auc_ci_low", "auc_ci_high", "sensitivity", "specificity", "brier",
                    "calibration_intercept", "calibration_slope", "hl_p"} <= set(m)
    assert {"z", "p"} <= set(r["comparisons"]["hospital_b"]["combined_vs_clinical"])
    assert {"z", "p"} <= set(r["comparisons"]["hospital_b"]["combined_vs_radiomics"])
    assert "TRIPOD+AI" in html.read_text()
