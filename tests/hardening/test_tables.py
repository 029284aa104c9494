"""Clinical tables and features.csv: unsafe ids, Unicode forms, empty and ragged tables, the
separators and decimal marks of European spreadsheets, units, non-finite values. Refusals
name the row, patient, column and value and leave the study unchanged byte for byte."""
from __future__ import annotations

import unicodedata
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from core.cohort.catalogue import CATALOGUE, lookup
from core.cohort.ingest import ingest
from core.store import Study
from tests.cohort.conftest import make_cohort
from tests.hardening.conftest import refuse_ingest


def _table_only(folder: Path, text: str, name: str = "clinical.csv", encoding: str = "utf-8") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_bytes(text.encode(encoding))
    return folder


@pytest.mark.parametrize("pid, reason", [
    ("../x", "is a path"), ("a/b", "is a path"), ("/abs", "is a path"), ("..", "is a path"),
    ("a\\b", "is a path"), ("-rf", "starts with '-'"), (".hidden", "starts with '.'"), ("P 01", "holds space (' ')"),
    ("P01:evil", "holds colon (':')"), ("NUL", "is a device name on Windows"), ("x" * 65, "is 65 characters long"),
])
def test_patient_ids_that_are_paths_or_unsafe_file_names(capsys, study_path, tmp_path, pid, reason):
    """A cohort without images: the id is still a file name later (exports, downloads)."""
    c = _table_only(tmp_path / "c", f'patient_id,ptlf\nP01,0\n"{pid}",1\n')
    refuse_ingest(capsys, study_path, c, f"clinical.csv: row 3: patient_id {pid!r} {reason}; expected 1-64 letters, "
                  "digits")


def test_unsafe_id_as_an_image_file_name(capsys, study_path, tmp_path):
    c = make_cohort(tmp_path / "c")
    (c / "images" / "P04.nii.gz").rename(c / "images" / "P 04.nii.gz")
    refuse_ingest(capsys, study_path, c, "images/P 04.nii.gz: patient_id 'P 04' holds space (' ')")


def test_ids_equal_but_for_case(capsys, study_path, tmp_path):
    c = _table_only(tmp_path / "c", "patient_id,ptlf\nabc1,0\nABC1,1\n")
    refuse_ingest(capsys, study_path, c, "clinical.csv: patient ids 'ABC1', 'abc1' differ only in letter case")


@pytest.mark.parametrize("table_form, file_form", [("NFC", "NFD"), ("NFD", "NFC")])
def test_unicode_id_in_nfd_and_nfc_match(tmp_path, table_form, file_form):
    """macOS writes file names in NFD, spreadsheets keep NFC (or the reverse): one patient."""
    c = make_cohort(tmp_path / "c", n=2)
    name = "Jos\u00e9-01"
    table = pd.read_csv(c / "clinical.csv", dtype=str)
    table.loc[1, "Patient_ID"] = unicodedata.normalize(table_form, name)
    table.to_csv(c / "clinical.csv", index=False)
    for folder in ("images", "masks"):
        (c / folder / "P02.nii.gz").rename(c / folder / f"{unicodedata.normalize(file_form, name)}.nii.gz")
    with Study.open(tmp_path / "s.duckdb") as study:
        assert ingest(study, c, "centre_u", "training")["images"] == 2
        ids = set(study.patients("centre_u")["patient_id"])
        assert set(study.images("centre_u")["patient_id"]) == ids
    assert ids == {"P01", unicodedata.normalize("NFC", name)}


def test_header_only_table(capsys, study_path, tmp_path):
    c = _table_only(tmp_path / "c", "patient_id,ptlf,inr\n")
    refuse_ingest(capsys, study_path, c, "clinical.csv: the table has a header but no rows; expected one row per patient")


@pytest.mark.parametrize("text", ["", "\n\n", ";;;\n"])
def test_empty_table(capsys, study_path, tmp_path, text):
    c = _table_only(tmp_path / "c", text)
    refuse_ingest(capsys, study_path, c, "clinical.csv is empty; expected a header row")


def test_header_only_xlsx(capsys, study_path, tmp_path):
    c = tmp_path / "c"
    c.mkdir()
    pd.DataFrame(columns=["patient_id", "ptlf"]).to_excel(c / "clinical.xlsx", index=False)
    refuse_ingest(capsys, study_path, c, "clinical.xlsx: the table has a header but no rows")


def _stored_clinical(tmp_path: Path, folder: Path) -> pd.DataFrame:
    with Study.open(tmp_path / "s.duckdb") as study:
        ingest(study, folder, "centre_eu", "training")
        return study.clinical("centre_eu")


def test_semicolons_with_decimal_commas_equal_pandas(tmp_path):
    """Stored values equal pandas' own reading with sep=';' and decimal=','."""
    text = ("Patient_ID;PTLF;INR;Albumin;AFP;Sex\r\nP01;1;1,12;38,5;1200;M\r\nP02;0;0,95;41;12,25;F\r\n"
            "P03;1;1,3;;7;M\r\n;;;;;\r\n")
    c = _table_only(tmp_path / "c", "\ufeff" + text)  # Excel's UTF-8 BOM
    got = _stored_clinical(tmp_path, c)
    want = pd.read_csv(c / "clinical.csv", sep=";", decimal=",", encoding="utf-8-sig").dropna(how="all")
    want = want.set_index("Patient_ID")
    for ours, theirs in (("inr", "INR"), ("alb", "Albumin"), ("afp", "AFP")):
        assert np.array_equal(got[ours].to_numpy(float), want[theirs].to_numpy(float), equal_nan=True), ours
    assert list(got["sex"]) == ["M", "F", "M"]


def test_tab_separated_table(tmp_path):
    c = _table_only(tmp_path / "c", "patient_id\tptlf\tinr\nP01\t1\t1.2\nP02\t0\t0.9\n")
    assert list(_stored_clinical(tmp_path, c)["inr"]) == [1.2, 0.9]


def test_thousands_point_in_a_decimal_comma_file(capsys, study_path, tmp_path):
    """'1.234' in a file that writes '1,5' may be 1.234 or 1234: refused, not guessed."""
    c = _table_only(tmp_path / "c", "patient_id;ptlf;inr;afp\nP01;1;1,2;1.234\nP02;0;0,9;15\n")
    refuse_ingest(capsys, study_path, c, "clinical.csv: patient P01, column afp: value '1.234' has a decimal point "
                  "but this file writes decimals with a comma")


def test_row_wider_than_the_header(capsys, study_path, tmp_path):
    """A decimal comma in a comma-separated file shifts the row: refused by row number."""
    c = _table_only(tmp_path / "c", "patient_id,ptlf,inr,alb\nP01,1,1,2,38\nP02,0,0.9\n")
    refuse_ingest(capsys, study_path, c, "clinical.csv: row 2 has 5 fields, the header 4 (a separator inside a value?)",
                  "clinical.csv: row 3 has 3 fields, the header 4")


def test_duplicate_and_unnamed_columns(capsys, study_path, tmp_path):
    c = _table_only(tmp_path / "c", "patient_id,ptlf,INR,,INR\nP01,1,1.1,x,1.2\n")
    refuse_ingest(capsys, study_path, c, "clinical.csv: column 4 has no name in the header row",
                  "clinical.csv: columns 3 and 5 are both named 'INR'; keep one")


def test_not_utf8(capsys, study_path, tmp_path):
    c = _table_only(tmp_path / "c", "patient_id;ptlf;remark\nP01;1;d\u00e9c\u00e8s\n", encoding="cp1252")
    refuse_ingest(capsys, study_path, c, "clinical.csv: not UTF-8 text (byte 0xe9 at position 30); "
                  "save it as 'CSV UTF-8'")


@pytest.mark.parametrize("value", ["inf", "-inf", "1e999", "Infinity"])
def test_non_finite_clinical_value(capsys, study_path, tmp_path, value):
    c = _table_only(tmp_path / "c", f"patient_id,ptlf,score\nP01,1,{value}\nP02,0,2\n")
    refuse_ingest(capsys, study_path, c, f"clinical.csv: patient P01, column score: value {value!r} is not a finite "
                  "number; expected a number")


def test_unit_in_the_header_must_be_the_catalogues(capsys, study_path, tmp_path):
    """Bilirubin in mg/dL (1.2) lies inside the umol/L range: only the stated unit tells."""
    c = _table_only(tmp_path / "c", "patient_id,ptlf,TB (mg/dL),Albumin (g/L)\nP01,1,1.2,38\nP02,0,0.8,41\n")
    err = refuse_ingest(capsys, study_path, c, "clinical.csv: column 'TB (mg/dL)' gives the unit mg/dL; Total "
                        "bilirubin is expected in umol/L: convert the values")
    assert "Albumin" not in err


def test_table_two_variables_and_aliases(tmp_path):
    """The paper's Table 2 names, as a spreadsheet may spell them, land on the catalogue's names."""
    header = ["Patient ID", "PTLF", "WBC", "Neutrophil (%)", "RBC", "Hb (g/L)", "PLT", "PT", "TT", "INR", "APTT",
              "AST", "ALT", "TB", "GLU", "GGT", "AFP", "Albumin", "Portal vein embolus", "CTP", "Tumour location",
              "Tumour number", "Sum of tumour diameters (cm)", "Cirrhosis", "Hydroperitoneum"]
    rows = [["P01", 1, 5.2, 61, 4.3, 128, 150, 12.9, 17, 1.1, 33, 45, 38, 15, 5.4, 80, 120, 38, "yes", "B",
             "right lobe", "2", 6.5, "yes", "no"],
            ["P02", 0, 6.1, 55, 4.6, 140, 210, 12.1, 16, 1.0, 30, 30, 28, 11, 5.0, 45, 20, 42, "no", "A",
             "both", "single", 3.0, "no", "yes"]]
    c = tmp_path / "c"
    c.mkdir()
    pd.DataFrame(rows, columns=header).to_csv(c / "clinical.csv", index=False)
    got = _stored_clinical(tmp_path, c)
    names = {"ptlf", "wbc", "neut_pct", "rbc", "hb", "plt", "pt", "tt", "inr", "aptt", "ast", "alt", "tb", "glu", "ggt",
             "afp", "alb", "portal_vein_embolus", "child_pugh", "tumor_location", "tumor_number",
             "tumor_diameter_sum", "cirrhosis", "ascites"}
    assert set(got.columns) == names
    assert got.loc["P01", "child_pugh"] == "B" and got.loc["P01", "tumor_location"] == "right"
    assert got.loc["P01", "tumor_number"] == "multiple" and got.loc["P02", "ascites"] == "yes"
    assert got.loc["P01", "hb"] == 128 and got.loc["P02", "tumor_diameter_sum"] == 3.0


def test_catalogue_names_and_aliases_are_unique():
    keys = [k for v in CATALOGUE for k in (v.name, *v.aliases)]
    assert len(keys) == len(set(keys))
    assert all(lookup(v.name) is v and all(lookup(a) is v for a in v.aliases) for v in CATALOGUE)


def test_haemoglobin_in_g_per_dl_is_refused(capsys, study_path, tmp_path):
    c = _table_only(tmp_path / "c", "patient_id,ptlf,Hb\nP01,1,13.5\nP02,0,128\n")
    refuse_ingest(capsys, study_path, c, "clinical.csv: patient P01, column Hb: value 13.5 is outside the plausible "
                  "range; expected a number in [20, 250] g/L")


def _features(c: Path, rows: list[dict]) -> None:
    pd.DataFrame(rows).to_csv(c / "features.csv", index=False)


def test_features_csv_non_finite_values(capsys, study_path, tmp_path):
    c = make_cohort(tmp_path / "c", images=False)
    rows = [{"patient_id": f"P{i:02d}", "region": "liver", "f1": 1.0, "f2": 2.0} for i in range(1, 5)]
    rows[0]["f1"], rows[2]["f2"] = "inf", "1e999"
    _features(c, rows)
    refuse_ingest(capsys, study_path, c, "features.csv: patient P01, feature f1: value 'inf' is not a finite number",
                  "features.csv: patient P03, feature f2: value '1e999' is not a finite number")


def test_features_csv_patients_without_features(capsys, study_path, tmp_path):
    c = make_cohort(tmp_path / "c", images=False)
    rows = [{"patient_id": pid, "region": region, "f1": 1.0} for pid in ("P01", "P02", "P03")
            for region in ("liver", "tumor")]
    rows = [r for r in rows if not (r["patient_id"] == "P03" and r["region"] == "tumor")]
    rows.append({"patient_id": "P04", "region": "liver", "f1": None})
    _features(c, rows)
    refuse_ingest(capsys, study_path, c,
                  "features.csv: patient P03 (in the clinical table) has no features for tumor",
                  "features.csv: patient P04 (in the clinical table) has no features for liver, tumor")


def test_features_csv_header_only_and_unsafe_ids(capsys, study_path, tmp_path):
    c = make_cohort(tmp_path / "c", images=False)
    (c / "features.csv").write_text("patient_id,region,f1\n")
    refuse_ingest(capsys, study_path, c, "features.csv: the table has a header but no rows")
    (c / "features.csv").write_text("patient_id;region;f1\n../P01;liver;1,5\n")
    refuse_ingest(capsys, study_path, c, "features.csv: row 2: patient_id '../P01' is a path")


def test_features_csv_with_decimal_commas(tmp_path):
    c = make_cohort(tmp_path / "c", images=False)
    lines = ["patient_id;region;original_firstorder_Mean"] + [f"P{i:02d};liver;{50 + i},25" for i in range(1, 5)]
    (c / "features.csv").write_text("\n".join(lines) + "\n")
    with Study.open(tmp_path / "s.duckdb") as study:
        ingest(study, c, "centre_f", "training")
        wide = study.features_wide("centre_f")
    assert wide.loc["P03", "liver:original_firstorder_Mean"] == 53.25

