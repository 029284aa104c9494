"""The robustness workflow end to end on tiny CTs: a second reader's masks ingested, perturbed
masks stored (idempotently), every source extracted by the ordinary runner, ICC per feature
from the command line."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import SimpleITK as sitk

from core.__main__ import main
from core.cohort.ingest import ingest
from core.plots import icc_distribution
from core.radiomics import load_preset
from core.radiomics.perturb import second_reader
from core.radiomics.robustness import feature_icc
from core.stats import icc
from core.store import Study
from tests.cohort.conftest import make_cohort as tiny_cohort, tiny_mask, write_volume
from tests.radiomics.conftest import CENTER, make_cohort

N = 6


@pytest.fixture(scope="module")
def study_path(tmp_path_factory):
    """Centre ``centre_a``: 6 patients with manual masks and a second reader's for all of them."""
    folder = tmp_path_factory.mktemp("robustness")
    cohort = make_cohort(folder / "cohort", N)
    (cohort / "masks_reader2").mkdir()
    for i, path in enumerate(sorted((cohort / "masks").iterdir())):
        mask = sitk.ReadImage(str(path))
        sitk.WriteImage(second_reader(mask, seed=i), str(cohort / "masks_reader2" / path.name), useCompression=True)
    path = folder / "study.duckdb"
    with Study.open(path) as study:
        ingest(study, cohort, CENTER, "training")
    return path


def test_reader2_and_perturbed_sources_extract_and_give_icc(study_path, tmp_path, capsys):
    assert main(["robustness", "perturb", "--study", str(study_path), "--center", CENTER]) == 0
    first = capsys.readouterr().out
    assert "perturbed-erode: 6 stored, 0 unchanged, 0 failed" in first
    assert main(["robustness", "perturb", "--study", str(study_path), "--center", CENTER]) == 0
    assert "perturbed-shift: 0 stored, 6 unchanged, 0 failed" in capsys.readouterr().out   # idempotent
    with Study.open(study_path, read_only=True) as study:
        before = study.masks(CENTER)
    for source in ("manual", "reader2", "perturbed-erode", "perturbed-dilate", "perturbed-shift"):
        assert main(["extract", "--study", str(study_path), "--center", CENTER, "--mask-source", source,
                     "--preset", "quick", "--workers", "2", "--no-progress"]) == 0, source
        assert f"{N} cases, {N} extracted, 0 cached, 0 failed" in capsys.readouterr().out
    with Study.open(study_path, read_only=True) as study:
        assert study.masks(CENTER).equals(before)
        settings = load_preset("quick").settings_hash
        wide = {s: study.features_wide(CENTER, s, settings) for s in ("manual", "reader2")}
        table = feature_icc(study, CENTER, "manual", ["reader2"], settings, kind="ICC(3,1)")

    # the table's ICC is icc() of the two stored feature columns (icc() itself is tested against
    # Shrout & Fleiss): the plumbing from the store to the table changes nothing
    assert len(table) == 2 * 107 and set(table["region"]) == {"liver", "tumor"}
    for name in ("liver:original_firstorder_Mean", "tumor:original_glcm_Idmn", "tumor:original_shape_MeshVolume"):
        pair = np.column_stack([wide["manual"][name], wide["reader2"][name]])
        assert table.loc[name, "icc"] == pytest.approx(icc(pair, "ICC(3,1)")["icc"], abs=1e-12)
        assert table.loc[name, "n"] == N and table.loc[name, "k"] == 2

    out = tmp_path / "icc.csv"
    assert main(["robustness", "icc", "--study", str(study_path), "--center", CENTER, "--against", "perturbed",
                 "--preset", "quick", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "manual against perturbed-erode, perturbed-dilate, perturbed-shift (k = 4" in printed
    assert "liver" in printed and "original" in printed and "features with ICC(2,1) >= 0.75" in printed
    written = pd.read_csv(out, index_col=0)
    assert list(written.columns) == ["region", "image_type", "feature_class", "icc", "ci_low", "ci_high", "n", "k",
                                     "kind"]
    assert (written["k"] == 4).all() and (written["kind"] == "ICC(2,1)").all()
    assert (written["ci_low"].dropna() <= written.loc[written["ci_low"].notna(), "icc"] + 1e-12).all()
    fig = icc_distribution(written)
    assert {t.name for t in fig.data} == {"liver", "tumor"}


def test_icc_command_refusals(study_path, capsys):
    code = main(["robustness", "icc", "--study", str(study_path), "--center", CENTER, "--against", "model_x",
                 "--preset", "quick"])
    assert code == 2 and "no masks from model_x; mask sources of the centre: manual" in capsys.readouterr().err
    code = main(["robustness", "icc", "--study", str(study_path), "--center", CENTER, "--against", "reader2",
                 "--preset", "quick", "--kind", "ICC(1,1)"])
    err = capsys.readouterr().err
    assert code == 2 and "kind must be one of ICC(2,1), ICC(3,1), got 'ICC(1,1)'" in err
    code = main(["robustness", "perturb", "--study", str(study_path), "--center", CENTER, "--from", "model_x"])
    assert code == 2 and "no masks from source 'model_x'" in capsys.readouterr().err


def test_a_patient_that_cannot_be_perturbed_is_reported_and_the_others_stored(tmp_path, capsys):
    cohort = tiny_cohort(tmp_path / "cohort")
    mask = tiny_mask()
    mask[mask == 2] = 1
    mask[3, 5, 5] = 2                                                  # a one-voxel tumour
    write_volume(mask, cohort / "masks" / "P02.nii.gz")
    path = tmp_path / "s.duckdb"
    with Study.open(path) as study:
        ingest(study, cohort, "centre_a", "training")
    assert main(["robustness", "perturb", "--study", str(path), "--center", "centre_a"]) == 1
    captured = capsys.readouterr()
    assert "perturbed-erode: 3 stored, 0 unchanged, 1 failed" in captured.out
    assert "perturbed-dilate: 4 stored" in captured.out
    assert "patient P02: tumor (label 2) is empty after erosion" in captured.err
    with Study.open(path, read_only=True) as study:
        assert list(study.masks("centre_a", "perturbed-erode")["patient_id"]) == ["P01", "P03", "P04"]
        assert study.audit_log()["action"].iloc[0] == "perturb masks"
