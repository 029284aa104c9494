"""Extraction jobs over a tiny study: every case stored once, cached by content, bad cases
recorded without stopping the job, cancellation, Dask, and the command line."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from core.__main__ import main
from core.radiomics import load_preset, run_extraction
from core.store import Study
from tests.radiomics.conftest import CENTER, make_study, synthetic_case, write_volume


def _stored(study: Study, preset: str = "quick", mask_source: str = "manual") -> pd.DataFrame:
    return study.features(CENTER, mask_source, load_preset(preset).settings_hash)


def test_job_stores_every_case_then_skips_what_is_unchanged(study_path, tmp_path):
    seen = []
    with Study.open(study_path) as study:
        result = run_extraction(study, CENTER, preset="quick", workers=2, progress=seen.append)
        assert (result.state, result.extracted, result.cached, result.failures) == ("done", 4, 0, {})
        stored = _stored(study)
        assert stored.groupby(["patient_id", "region"]).size().to_dict() == {
            (f"P0{i}", r): 107 for i in range(1, 5) for r in ("liver", "tumor")}
        job = study.jobs.get(result.job_id)
        assert (job["state"], job["done"], job["total"]) == ("done", 4, 4)
        assert job["params"]["settings_hash"] == load_preset("quick").settings_hash
        assert seen[-1].finished == 4 and result.peak_rss_mib > 50 and len(result.case_seconds) == 4

        again = run_extraction(study, CENTER, preset="quick", workers=2)
        assert (again.state, again.extracted, again.cached) == ("done", 0, 4)
        assert set(study.jobs.cases(again.job_id)["state"]) == {"skipped"}

        # a new mask for one patient: only that case runs again, its old rows are replaced
        ct, mask = synthetic_case(0)
        mask[mask == 2] = 1
        mask[3:7, 10:15, 10:15] = 2
        study.add_masks(CENTER, "manual", {"P01": write_volume(mask, tmp_path / "P01_new.nii.gz")})
        third = run_extraction(study, CENTER, preset="quick", workers=1)
        assert (third.extracted, third.cached) == (1, 3) and list(third.case_seconds) == ["P01"]
        after = _stored(study)
        assert len(after) == len(stored)
        volume = after.set_index(["patient_id", "region", "feature"])["value"]
        assert volume["P01", "tumor", "original_shape_VoxelVolume"] == pytest.approx(100 * 1.5 * 1.5 * 4.0)


def test_bad_regions_fail_their_own_case_and_the_job_goes_on(tmp_path):
    path = make_study(tmp_path, 5)
    masks = {}
    for pid, seed in (("P01", 0), ("P02", 1), ("P03", 2), ("P04", 3)):
        _, mask = synthetic_case(seed)
        spacing = (1.5, 1.5, 4.0)
        if pid == "P01":
            mask[mask == 2] = 1                       # empty tumour
        elif pid == "P02":
            mask[mask == 2] = 1
            mask[5, 18, 18] = 2                       # one voxel
        elif pid == "P03":
            spacing = (1.5, 1.5, 5.0)                 # not the image's grid
        masks[pid] = write_volume(mask, tmp_path / f"{pid}_model.nii.gz", spacing=spacing)
    with Study.open(path) as study:
        study.add_masks(CENTER, "model_x", masks)     # P05 has no mask from model_x
        result = run_extraction(study, CENTER, mask_source="model_x", preset="quick", workers=2)
        assert result.state == "done with 4 failures" and result.extracted == 1
        assert result.failures == {
            "P01": "patient P01: tumor (label 2) is empty",
            "P02": "patient P02: tumor (label 2) is a single voxel",
            "P03": "patient P03: mask does not match the image: spacing (1.5, 1.5, 5) differs from the image's "
                   "(1.5, 1.5, 4)",
            "P05": "patient P05: no mask from source 'model_x'"}
        cases = study.jobs.cases(result.job_id).set_index("case_id")
        assert cases["state"].to_dict() == {"P01": "failed", "P02": "failed", "P03": "failed", "P04": "done",
                                            "P05": "failed"}
        assert cases.loc["P02", "error"] == result.failures["P02"]
        assert set(_stored(study, mask_source="model_x")["patient_id"]) == {"P04"}
        job = study.jobs.get(result.job_id)
        assert (job["done"], job["failed"]) == (1, 4)


def test_cancel_from_the_jobs_table_stops_between_cases_and_a_rerun_completes(tmp_path):
    path = make_study(tmp_path, 6)
    with Study.open(path) as study:
        def cancel_after_first(progress):
            if progress.done == 1:
                study.jobs.request_cancel(int(study.jobs.list()["job_id"].max()))

        result = run_extraction(study, CENTER, preset="quick", workers=1, progress=cancel_after_first)
        assert result.state == "cancelled" and 1 <= result.extracted < 6
        assert study.jobs.get(result.job_id)["state"] == "cancelled"
        rest = run_extraction(study, CENTER, preset="quick", workers=1)
        assert (rest.state, rest.cached, rest.extracted) == ("done", result.extracted, 6 - result.extracted)
        assert _stored(study)["patient_id"].nunique() == 6


def test_dask_local_cluster_gives_the_same_features_as_the_process_pool(tmp_path):
    distributed = pytest.importorskip("distributed")
    pool_path, dask_path = make_study(tmp_path / "pool", 3), make_study(tmp_path / "dask", 3)
    with Study.open(pool_path) as study:
        run_extraction(study, CENTER, preset="quick", workers=2)
        expected = _stored(study).set_index(["patient_id", "region", "feature"])["value"].sort_index()
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=False,
                                  dashboard_address=None) as cluster, Study.open(dask_path) as study:
        # by scheduler address, as `--dask tcp://host:8786`: the files travel to the workers as bytes
        result = run_extraction(study, CENTER, preset="quick", dask=cluster.scheduler_address)
        got = _stored(study).set_index(["patient_id", "region", "feature"])["value"].sort_index()
        assert study.jobs.get(result.job_id)["params"]["dask"] == cluster.scheduler_address
    assert result.state == "done" and result.extracted == 3
    pd.testing.assert_series_equal(got, expected)


def test_a_second_run_of_the_same_job_is_refused_while_one_is_live(study_path):
    with Study.open(study_path) as study:
        preset = load_preset("quick")
        study.jobs.create("extract", CENTER, {"mask_source": "manual", "settings_hash": preset.settings_hash})
        with pytest.raises(Exception, match="is already extracting centre 'centre_a'"):
            run_extraction(study, CENTER, preset=preset)


def test_command_line_extracts_and_writes_the_wide_table(study_path, tmp_path, capsys):
    args = ["--study", str(study_path), "--center", CENTER, "--preset", "quick"]
    assert main(["extract", *args, "--workers", "2", "--no-progress"]) == 0
    assert "done: 4 cases, 4 extracted, 0 cached, 0 failed" in capsys.readouterr().out
    for suffix in (".csv", ".parquet"):
        out = tmp_path / f"features{suffix}"
        assert main(["features", *args, "--out", str(out)]) == 0
        table = pd.read_csv(out, index_col=0) if suffix == ".csv" else pd.read_parquet(out)
        assert table.shape == (4, 214) and list(table.index) == ["P01", "P02", "P03", "P04"]
        assert "tumor:original_glcm_Idmn" in table.columns
        assert np.isfinite(table["liver:original_firstorder_Mean"]).all()
    assert main(["features", "--study", str(study_path), "--center", CENTER, "--out", str(tmp_path / "p.csv")]) == 2
    assert "no features for centre 'centre_a' from mask source 'manual' with preset 'paper'" in capsys.readouterr().err


def test_a_partial_mask_source_skips_the_patients_it_lacks(tmp_path, capsys):
    """A second reader who outlined some patients: with --skip-missing-masks the others are
    skipped with the reason, the job ends done and the command exits 0."""
    path = make_study(tmp_path, 3)
    ct, mask = synthetic_case(0)
    with Study.open(path) as study:
        study.add_masks(CENTER, "reader2", {"P01": write_volume(mask, tmp_path / "P01_reader2.nii.gz")})
    assert main(["extract", "--study", str(path), "--center", CENTER, "--mask-source", "reader2", "--preset",
                 "quick", "--workers", "1", "--skip-missing-masks", "--no-progress"]) == 0
    assert "3 cases, 1 extracted, 0 cached, 0 failed" in capsys.readouterr().out
    with Study.open(path, read_only=True) as study:
        job = study.jobs.list().iloc[0]
        cases = study.jobs.cases(int(job["job_id"])).set_index("case_id")
        assert job["state"] == "done"
        assert cases["state"].to_dict() == {"P01": "done", "P02": "skipped", "P03": "skipped"}
        assert cases.at["P02", "error"] == "no mask from source 'reader2'"
