"""Cohort ingest: a good cohort is stored whole; each bad input is refused with its own message
and leaves the study file byte-for-byte unchanged."""
from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from core.cohort.archive import Limits
from core.cohort.ingest import CohortError, ingest, validate
from core.store import Study
from tests.cohort.conftest import digest, make_cohort, tiny_mask, write_volume


@pytest.fixture
def study_path(tmp_path: Path) -> Path:
    """A study already holding one centre, closed so its bytes can be compared."""
    path = tmp_path / "study.duckdb"
    with Study.open(path) as study:
        ingest(study, make_cohort(tmp_path / "existing"), "centre_a", "training")
    return path


def _refused(study_path: Path, source: Path, *expected: str, center="centre_b", replace=False,
             limits=Limits()) -> list[str]:
    before, objects_before = digest(study_path), _objects(study_path)
    with Study.open(study_path) as study, pytest.raises(CohortError) as info:
        ingest(study, source, center, "validation", replace=replace, limits=limits)
    text = "\n".join(info.value.problems)
    for part in expected:
        assert part in text, f"expected {part!r} in:\n{text}"
    assert digest(study_path) == before, "the study file changed although the ingest was refused"
    assert _objects(study_path) == objects_before, "files were added to the store although the ingest was refused"
    return info.value.problems


def _objects(study_path: Path) -> set[str]:
    root = study_path.with_suffix(".study") / "objects"
    return {p.name for p in root.rglob("*.nii.gz")} if root.exists() else set()


def test_good_cohort_is_stored_whole(tmp_path, cohort):
    with Study.open(tmp_path / "s.duckdb") as study:
        summary = ingest(study, cohort, "centre_a", "training")
        assert summary["patients"] == 4 and summary["images"] == 4 and summary["masks"] == 4
        centers = study.centers()
        assert centers.loc[0, "patients"] == 4 and centers.loc[0, "events"] == 2
        clinical = study.clinical("centre_a")
        # catalogue names from aliases, case-insensitive; unknown columns kept as they are
        assert {"inr", "alb", "sex", "smoking_pack_years"} <= set(clinical.columns)
        assert clinical.loc["P01", "inr"] == pytest.approx(0.9)
        assert clinical.loc["P02", "sex"] == "F"
        masks = study.masks("centre_a", "manual")
        assert (masks["liver_voxels"] == (tiny_mask() == 1).sum()).all()
        assert all(Path(p).exists() for p in study.images("centre_a")["path"])
        assert study.audit_log()["action"].iloc[0] == "ingest cohort"


def test_truncated_image(study_path, tmp_path):
    c = make_cohort(tmp_path / "c")
    data = (c / "images" / "P02.nii.gz").read_bytes()
    (c / "images" / "P02.nii.gz").write_bytes(data[: len(data) // 2])
    _refused(study_path, c, "images/P02.nii.gz", "cannot read the volume")


@pytest.mark.parametrize("change, expected", [
    (dict(array=np.zeros((6, 12, 10), np.uint8)), "size (10, 12, 6) differs from the image's (12, 12, 6)"),
    (dict(spacing=(1.0, 1.5, 4.0)), "spacing (1, 1.5, 4) differs"),
    (dict(origin=(5.0, 0.0, 0.0)), "origin (5, 0, 0) differs"),
    (dict(direction=(-1, 0, 0, 0, 1, 0, 0, 0, 1)), "direction"),
])
def test_mask_geometry_mismatch(study_path, tmp_path, change, expected):
    c = make_cohort(tmp_path / "c")
    array = change.pop("array", tiny_mask())
    write_volume(array, c / "masks" / "P03.nii.gz", **change)
    _refused(study_path, c, "masks/P03.nii.gz (patient P03)", expected)


def test_mask_labels_outside_0_1_2(study_path, tmp_path):
    c = make_cohort(tmp_path / "c")
    mask = tiny_mask()
    mask[0, 0, 0] = 3
    write_volume(mask, c / "masks" / "P01.nii.gz")
    write_volume((tiny_mask() > 0).astype(np.uint8) * 255, c / "masks" / "P02.nii.gz")
    problems = _refused(study_path, c, "masks/P01.nii.gz (patient P01): labels 3 found",
                        "masks/P02.nii.gz (patient P02): labels 255 found")
    assert any("0/255 mask" in p and "P02" in p for p in problems)
    assert not any("0/255 mask" in p and "P01" in p for p in problems)


def test_empty_label(study_path, tmp_path):
    c = make_cohort(tmp_path / "c")
    mask = tiny_mask()
    mask[mask == 2] = 1
    write_volume(mask, c / "masks" / "P04.nii.gz")
    _refused(study_path, c, "masks/P04.nii.gz (patient P04): label 2 (tumour) is empty")


def test_patients_without_image_and_images_without_patient(study_path, tmp_path):
    c = make_cohort(tmp_path / "c")
    (c / "images" / "P04.nii.gz").rename(c / "images" / "P99.nii.gz")
    (c / "masks" / "P04.nii.gz").unlink()
    _refused(study_path, c, "clinical.csv: patient P04 has no image in images/",
             "images/: patient P99 has an image but no row in clinical.csv")


def test_duplicate_ids(study_path, tmp_path):
    c = make_cohort(tmp_path / "c")
    table = pd.read_csv(c / "clinical.csv", dtype=str)
    table.loc[3, "Patient_ID"] = "P01"
    table.to_csv(c / "clinical.csv", index=False)
    (c / "images" / "P04.nii.gz").unlink()
    (c / "masks" / "P04.nii.gz").unlink()
    _refused(study_path, c, "patient_id 'P01' appears more than once (rows 2, 5)")


def test_missing_and_non_binary_outcome(study_path, tmp_path):
    c = make_cohort(tmp_path / "c")
    table = pd.read_csv(c / "clinical.csv", dtype=str)
    table.loc[0, "PTLF"] = ""
    table.loc[1, "PTLF"] = "2"
    table.to_csv(c / "clinical.csv", index=False)
    _refused(study_path, c, "patient P01, column PTLF: outcome is missing; expected 0 or 1",
             "patient P02, column PTLF: value '2' is not an outcome; expected 0 or 1")


def test_non_numeric_and_out_of_range_clinical_values(study_path, tmp_path):
    c = make_cohort(tmp_path / "c")
    table = pd.read_csv(c / "clinical.csv", dtype=str)
    table.loc[0, "INR"] = "high"
    table.loc[1, "Albumin"] = "380"
    table.loc[2, "Sex"] = "X"
    table.to_csv(c / "clinical.csv", index=False)
    _refused(study_path, c,
             "patient P01, column INR: value 'high' is not a number; expected a number in [0.5, 10]",
             "patient P02, column Albumin: value 380 is outside the plausible range; expected a number in [10, 60] g/L",
             "patient P03, column Sex: value 'X' not recognised; expected one of ['F', 'M']")


def _zip(folder: Path, out: Path, extra: dict[str, bytes] | None = None, compression=zipfile.ZIP_DEFLATED) -> Path:
    with zipfile.ZipFile(out, "w", compression) as zf:
        for path in folder.rglob("*"):
            if path.is_file():
                zf.write(path, Path("cohort") / path.relative_to(folder))
        for name, data in (extra or {}).items():
            zf.writestr(name, data)
    return out


def test_zip_slip(study_path, tmp_path):
    z = _zip(make_cohort(tmp_path / "c"), tmp_path / "c.zip", {"../../evil.txt": b"x"})
    _refused(study_path, z, "entry '../../evil.txt' points outside the cohort folder (zip slip)")
    assert not (tmp_path.parent / "evil.txt").exists()


def test_zip_bomb(study_path, tmp_path):
    z = _zip(make_cohort(tmp_path / "c"), tmp_path / "c.zip", {"cohort/notes.txt": b"\0" * (64 << 20)})
    _refused(study_path, z, "entry 'cohort/notes.txt' expands", "zip bomb")


def test_upload_over_the_size_limit(study_path, tmp_path):
    z = _zip(make_cohort(tmp_path / "c"), tmp_path / "c.zip")
    _refused(study_path, z, "c.zip: upload is", "the limit is", limits=Limits(max_upload=1024))


def test_zip_cohort_ingests(tmp_path):
    z = _zip(make_cohort(tmp_path / "c"), tmp_path / "c.zip")
    with Study.open(tmp_path / "s.duckdb") as study:
        assert ingest(study, z, "centre_z", "external")["patients"] == 4


def test_existing_centre_refused_then_replaced_atomically(study_path, tmp_path):
    c = make_cohort(tmp_path / "c", n=2)
    _refused(study_path, c, "centre 'centre_a' already exists", center="centre_a")
    with Study.open(study_path) as study:
        ingest(study, c, "centre_a", "validation", replace=True)
        centers = study.centers()
        assert centers.loc[0, "patients"] == 2 and centers.loc[0, "role"] == "validation"
        assert len(study.images("centre_a")) == 2


def test_every_problem_listed_at_once(study_path, tmp_path):
    c = make_cohort(tmp_path / "c")
    table = pd.read_csv(c / "clinical.csv", dtype=str)
    table.loc[0, "INR"] = "abc"
    table.to_csv(c / "clinical.csv", index=False)
    (c / "images" / "P02.nii.gz").write_bytes(b"not an image")
    problems = _refused(study_path, c, "INR", "images/P02.nii.gz", center="centre_a")
    assert any("already exists" in p for p in problems)


def test_clinical_and_features_only_cohort(tmp_path):
    c = make_cohort(tmp_path / "c", images=False)
    rows = [{"patient_id": f"P{i:02d}", "region": region, "original_firstorder_Mean": 50.0 + i,
             "original_glcm_Idmn": 0.9} for i in range(1, 5) for region in ("liver", "tumor")]
    pd.DataFrame(rows).to_csv(c / "features.csv", index=False)
    with Study.open(tmp_path / "s.duckdb") as study:
        summary = ingest(study, c, "centre_f", "training")
        assert summary["images"] == 0 and summary["imported_features"] == 2
        wide = study.features_wide("centre_f")
        assert wide.shape == (4, 4)
        assert wide.loc["P03", "tumor:original_firstorder_Mean"] == 53.0


def test_features_csv_problems(study_path, tmp_path):
    c = make_cohort(tmp_path / "c", images=False)
    pd.DataFrame([{"patient_id": "P01", "region": "spleen", "f": 1.0},
                  {"patient_id": "P77", "region": "liver", "f": "abc"}]).to_csv(c / "features.csv", index=False)
    _refused(study_path, c, "features.csv: patient P01: region 'spleen'; expected one of liver, tumor",
             "features.csv: patient P77 is not in the clinical table",
             "features.csv: patient P77, feature f: value 'abc' is not a number")


def test_validate_reports_without_storing(tmp_path, cohort):
    plan = validate(cohort)
    assert plan.problems == [] and plan.summary()["patients"] == 4
    (cohort / "clinical.csv").write_text("patient_id,ptlf\nP01,1\n")
    assert any("has an image but no row" in p for p in validate(cohort).problems)
