"""A second reader's masks (masks_reader2/): checked by the same layer as the manual masks,
stored as mask source reader2, refused with the file and patient named."""
from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from core.cohort.ingest import READER2, CohortError, ingest, validate
from core.store import Study
from tests.cohort.conftest import digest, make_cohort, tiny_mask, write_volume


def _second_reader(cohort: Path, ids=("P01", "P03")) -> Path:
    """masks_reader2/ for some patients: the manual mask with the tumour one voxel wider."""
    (cohort / "masks_reader2").mkdir()
    mask = tiny_mask()
    mask[2:4, 4:8, 4:7] = 2
    for pid in ids:
        write_volume(mask, cohort / "masks_reader2" / f"{pid}.nii.gz")
    return cohort


def test_second_readers_masks_are_stored_as_their_own_source(tmp_path, cohort):
    _second_reader(cohort)
    with Study.open(tmp_path / "s.duckdb") as study:
        summary = ingest(study, cohort, "centre_a", "training")
        assert (summary["masks"], summary["reader2_masks"]) == (4, 2)
        assert study.mask_sources("centre_a") == ["manual", READER2]
        second = study.masks("centre_a", READER2)
        assert list(second["patient_id"]) == ["P01", "P03"]
        assert (second["tumor_voxels"] == 2 * 4 * 3).all() and (second["liver_voxels"] == 4 * 8 * 8 - 24).all()
        manual = study.masks("centre_a", "manual").set_index("patient_id")
        assert (manual["tumor_voxels"] == 2 * 3 * 3).all()
        assert set(second["sha256"]).isdisjoint(manual["sha256"]) and all(Path(p).exists() for p in second["path"])


def test_a_cohort_without_masks_reader2_has_none(cohort):
    assert validate(cohort).summary()["reader2_masks"] == 0


def test_a_zipped_cohort_carries_its_second_reader(tmp_path, cohort):
    _second_reader(cohort, ids=("P02",))
    archive = shutil.make_archive(str(tmp_path / "cohort"), "zip", cohort.parent, cohort.name)
    plan = validate(Path(archive))
    assert plan.problems == [] and plan.summary()["reader2_masks"] == 1


@pytest.mark.parametrize("damage, expected", [
    (lambda c: write_volume(tiny_mask((6, 12, 10)), c / "masks_reader2" / "P03.nii.gz"),
     "masks_reader2/P03.nii.gz (patient P03): size (10, 12, 6) differs from the image's (12, 12, 6)"),
    (lambda c: write_volume(tiny_mask() * 3, c / "masks_reader2" / "P03.nii.gz"),
     "masks_reader2/P03.nii.gz (patient P03): labels 3, 6 found; expected only 0 (background)"),
    (lambda c: write_volume(np.where(tiny_mask() == 2, 1, tiny_mask()).astype(np.uint8),
                            c / "masks_reader2" / "P03.nii.gz"),
     "masks_reader2/P03.nii.gz (patient P03): label 2 (tumour) is empty"),
    (lambda c: write_volume(tiny_mask(), c / "masks_reader2" / "P09.nii.gz"),
     "masks_reader2/P09.nii.gz: patient P09 has a mask but no image in images/"),
    (lambda c: (c / "masks_reader2" / "notes.txt").write_text("second reading by Dr X"),
     "masks_reader2/notes.txt: not a volume"),
])
def test_bad_second_reader_masks_are_refused_naming_file_and_patient(tmp_path, cohort, damage, expected):
    _second_reader(cohort)
    damage(cohort)
    path = tmp_path / "s.duckdb"
    with Study.open(path) as study:
        ingest(study, make_cohort(tmp_path / "other"), "centre_a", "training")
    before = digest(path)
    with Study.open(path) as study, pytest.raises(CohortError) as info:
        ingest(study, cohort, "centre_b", "validation")
    assert any(expected in p for p in info.value.problems), info.value.problems
    assert digest(path) == before
