"""Exports are safe to open in a spreadsheet: formula-like text is neutralised (OWASP CSV injection),
numbers stay numbers, in every download and every command that writes a table."""
from __future__ import annotations

import csv
import io

import openpyxl
import pandas as pd
import pytest

from core.__main__ import main
from core.exports import csv_bytes, neutralise, xlsx_bytes
from core.radiomics.presets import load_preset
from core.store import Study
from dashboard import tables
from tests.hardening_store.conftest import feature_study, snapshot

HOSTILE = ["=1+1", "+1", "-1+1", "@SUM(1)", "\t=cmd", "\r=cmd", "=HYPERLINK(\"http://x\",\"y\")",
           "-2+3*cmd|' /C calc'!A0"]
PLAIN = ["P01", "a=b", "1-2", " =1", "", "'=already"]


@pytest.mark.parametrize("text", HOSTILE)
def test_formula_text_gets_a_quote(text):
    assert neutralise(text) == "'" + text


@pytest.mark.parametrize("value", PLAIN + [-1.5, -3, float("-inf"), None, "-0.25", "-1e-3", "-7"])
def test_other_values_are_left_alone(value):
    assert neutralise(value) is value or neutralise(value) == value


def _frame() -> pd.DataFrame:
    df = pd.DataFrame({"value": [-1.5, 2.0, -3.25, 4.0, 0.5, 1.0, -2.0, 7.0],
                       "note": HOSTILE,
                       "mixed": [-1, "=2", 3.5, None, "+4", "-5", "@x", "y"]},
                      index=pd.Index(HOSTILE, name="=patient"))
    df["count"] = range(-4, 4)
    return df.rename(columns={"note": "+note"})


def _check_csv(data: bytes) -> None:
    rows = list(csv.reader(io.StringIO(data.decode("utf-8"), newline="")))
    assert rows[0] == ["'=patient", "value", "'+note", "mixed", "count"]
    for row, text in zip(rows[1:], HOSTILE):
        assert row[0] == row[2] == "'" + text
    assert [r[1] for r in rows[1:]] == ["-1.5", "2.0", "-3.25", "4.0", "0.5", "1.0", "-2.0", "7.0"]
    assert [r[3] for r in rows[1:]] == ["-1", "'=2", "3.5", "", "'+4", "-5", "'@x", "y"]
    assert [r[4] for r in rows[1:]] == ["-4", "-3", "-2", "-1", "0", "1", "2", "3"]


def _check_xlsx(data: bytes) -> None:
    """openpyxl stores a text starting with '=' as a formula (type 'f'): none may be left."""
    sheet = openpyxl.load_workbook(io.BytesIO(data)).active
    cells = [c for row in sheet.iter_rows() for c in row]
    assert not [c.coordinate for c in cells if c.data_type == "f"]
    text = [c.value for c in cells if isinstance(c.value, str)]
    assert not [v for v in text if v.startswith(("=", "+", "@", "\t", "\r"))
                or (v.startswith("-") and v != "-5")]
    numbers = [c.value for c in sheet["B"][1:]]
    assert numbers == [-1.5, 2, -3.25, 4, 0.5, 1, -2, 7] and all(c.data_type == "n" for c in sheet["B"][1:])


def test_core_exports_neutralise_values_names_and_index():
    df = _frame()
    _check_csv(csv_bytes(df))
    _check_xlsx(xlsx_bytes(df))
    assert df.index[0] == "=1+1" and df.columns[1] == "+note", "the caller's frame is not changed"


def test_dashboard_downloads_neutralise():
    df = _frame()
    _check_csv(tables.to_csv(df))
    _check_xlsx(tables.to_xlsx(df, "=sheet"))


def test_multiindex_labels_are_neutralised():
    df = pd.DataFrame({"risk": [0.1, 0.2]}, index=pd.MultiIndex.from_tuples([("=A", "+1"), ("B", "@2")],
                                                                            names=["center", "patient_id"]))
    rows = list(csv.reader(io.StringIO(csv_bytes(df).decode())))
    assert rows[1:] == [["'=A", "'+1", "0.1"], ["B", "'@2", "0.2"]]


@pytest.mark.parametrize("suffix", [".csv", ".xlsx"])
def test_features_command_neutralises_patient_ids(tmp_path, suffix, capsys):
    ids = ["=1+1", "+1", "@SUM(1)", "-1+1", "P05", "P06"]
    study = feature_study(tmp_path / "s.duckdb", ids, [1, 0, 1, 0, 1, 0], load_preset("quick").settings_hash)
    out = tmp_path / f"features{suffix}"
    assert main(["features", "--study", str(study), "--center", "T", "--preset", "quick", "--out", str(out)]) == 0
    if suffix == ".csv":
        first = [line.split(",")[0] for line in out.read_text().splitlines()]
        assert sorted(first[1:]) == sorted(["'=1+1", "'+1", "'@SUM(1)", "'-1+1", "P05", "P06"])
        back = pd.read_csv(out, index_col=0)
        assert back.dtypes.map(pd.api.types.is_float_dtype).all(), "feature values stay numbers"
    else:
        _check_no_formula(out)


def _check_no_formula(path) -> None:
    sheet = openpyxl.load_workbook(path).active
    assert not [c.coordinate for row in sheet.iter_rows() for c in row if c.data_type == "f"]
    ids = [c.value for c in sheet["A"][1:]]
    assert {"'=1+1", "'+1", "'@SUM(1)"} <= set(ids)


def test_features_command_refuses_an_unknown_format_before_reading(tmp_path, capsys):
    study = feature_study(tmp_path / "s.duckdb", ["P1", "P2"], [1, 0], load_preset("quick").settings_hash)
    before = snapshot(study)
    with pytest.raises(SystemExit) as exit_:
        main(["features", "--study", str(study), "--center", "T", "--preset", "quick",
              "--out", str(tmp_path / "f.ods")])
    assert exit_.value.code == 2
    assert "argument --out: expected a file name ending in .csv, .xlsx, .parquet, got" in capsys.readouterr().err
    assert snapshot(study) == before


def test_segmentation_metrics_are_neutralised(tmp_path):
    """The per-case metrics table (what ``segment evaluate --out`` writes) holds patient ids."""
    from core.exports import write_table

    with Study.open(tmp_path / "s.duckdb") as study:
        study.write_seg_metrics("m", pd.DataFrame({"split": "test", "patient_id": ["=cmd", "P2"], "label": "liver",
                                                   "metric": "dice", "value": [-0.0, 0.9]}))
        metrics = study.seg_metrics("m")
    out = write_table(metrics, tmp_path / "metrics.csv")
    rows = list(csv.reader(out.open()))
    assert rows[0] == ["split", "patient_id", "label", "metric", "value"]
    assert rows[1][1] == "'=cmd" and rows[1][4] == "-0.0" and rows[2][1] == "P2"
