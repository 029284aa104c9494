"""The real nnU-Net code path on CPU: export -> plan -> train one fold -> evaluate -> predict -> share.

A tiny study (8 synthetic 16x64x64 CTs, 6 with manual masks) and the project's tiny trainer
(narrow U-Net, 3 + 1 iterations, no mirroring); the module trains once (~1.5 min on 2 cores).
"""
import json
import threading
import zipfile

import numpy as np
import pytest
import SimpleITK as sitk

from core.cohort.ingest import ingest
from core.segmentation import study as seg
from core.segmentation.synthetic import write_synthetic_cases
from core.store import Study

pytestmark = pytest.mark.slow
TRAINER = "nnUNetTrainerTinyNoMirroring"


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """(study, model info, working folder) after export and training of fold 0."""
    root = tmp_path_factory.mktemp("segmentation")
    cases = write_synthetic_cases(root / "cohort", 8)
    for _, _, mask in cases[6:]:  # two patients without manual masks, to be predicted
        mask.unlink()
    (root / "cohort" / "clinical.csv").write_text(
        "patient_id,ptlf\n" + "".join(f"{c},{i % 2}\n" for i, (c, _, _) in enumerate(cases)))
    study = Study.open(root / "study.duckdb")
    ingest(study, root / "cohort", "A", "training")
    raw = seg.export_dataset(study, ["A"], n_folds=2)
    assert sorted(p.name for p in (raw / "imagesTr").iterdir())[0] == "A_case_000_0000.nii.gz"
    info = seg.train(study, folds=[0], trainer=TRAINER, device="cpu", da_workers=0, models_dir=root / "models")
    yield study, info, root
    study.close()


def test_training_registers_a_model_and_evaluation_gives_table1(trained):
    study, info, root = trained
    assert info.folds == [0] and info.trainer == TRAINER
    assert study.model(info.model_id)["path"] == str(info.path)
    assert study.jobs.list().query("kind == 'segmentation training'")["state"].tolist() == ["done"]
    table = seg.evaluate(study, info.model_id, device="cpu")
    assert list(table.columns) == ["fold 0", "cross-validation", "test"]
    assert table.shape == (10, 3) and table.loc[("liver", "dice")].between(0, 1).all()
    stored = study.seg_metrics(info.model_id)
    assert set(stored["split"]) == {"fold 0", "test"} and set(stored["metric"]) >= {"dice", "hd95"}
    assert "test" in study.model(info.model_id)["metrics"]


def test_rerun_of_training_skips_the_finished_fold(trained):
    study, info, root = trained
    again = seg.train(study, folds=[0], trainer=TRAINER, device="cpu", da_workers=0, models_dir=root / "models")
    assert again.model_id == info.model_id


def test_prediction_interrupted_then_resumed_predicts_only_the_rest(trained):
    study, info, _ = trained
    cancel = threading.Event()
    first = seg.predict(study, "A", info.model_id, device="cpu", progress=lambda p: cancel.set(), cancel=cancel)
    assert study.jobs.get(first)["state"] == "cancelled"
    assert len(study.masks("A", info.model_id)) == 1
    second = seg.predict(study, "A", info.model_id, device="cpu")
    cases = study.jobs.cases(second)
    assert study.jobs.get(second)["state"] == "done"
    assert sorted(cases["state"]) == ["done", "skipped"]  # the first run's case is not predicted again
    masks = study.masks("A", info.model_id)
    assert sorted(masks["patient_id"]) == ["case_006", "case_007"]
    assert set(seg.flagged(study, "A", info.model_id)["patient_id"]) <= set(masks["patient_id"])


def test_batch_masks_equal_nnunets_own_single_case_prediction(trained):
    from nnunetv2.imageio.simpleitk_reader_writer import SimpleITKIO

    from core.segmentation.predict import load_predictor

    study, info, _ = trained
    masks = study.masks("A", info.model_id)
    if masks.empty:
        seg.predict(study, "A", info.model_id, device="cpu")
        masks = study.masks("A", info.model_id)
    row = masks.iloc[0]
    image = study.images("A").set_index("patient_id").loc[row["patient_id"], "path"]
    data, properties = SimpleITKIO().read_images([image])
    expected = load_predictor(info.path, device="cpu").predict_single_npy_array(data, properties)
    assert np.array_equal(sitk.GetArrayFromImage(sitk.ReadImage(row["path"])), expected)


def test_batch_sharded_over_dask_workers_equals_nnunets_own_prediction(trained):
    """``--all`` on a local Dask cluster: the patients with manual masks are predicted by the
    workers (each loads the model once), the two already predicted are skipped, and every
    worker's mask equals nnU-Net's own single-case prediction voxel for voxel."""
    from nnunetv2.imageio.simpleitk_reader_writer import SimpleITKIO

    from core.segmentation.predict import load_predictor

    study, info, _ = trained
    if study.masks("A", info.model_id).empty:
        seg.predict(study, "A", info.model_id, device="cpu")
    job = seg.predict(study, "A", info.model_id, all_patients=True, device="cpu", dask="local")
    cases = study.jobs.cases(job)
    assert study.jobs.get(job)["state"] == "done"
    assert sorted(cases["state"]) == ["done"] * 6 + ["skipped"] * 2
    masks = study.masks("A", info.model_id).set_index("patient_id")
    assert len(masks) == 8
    predictor = load_predictor(info.path, device="cpu")
    images = study.images("A").set_index("patient_id")["path"]
    for pid in cases.loc[cases["state"] == "done", "case_id"][:2]:
        data, properties = SimpleITKIO().read_images([images[pid]])
        expected = predictor.predict_single_npy_array(data, properties)
        assert np.array_equal(sitk.GetArrayFromImage(sitk.ReadImage(masks.at[pid, "path"])), expected), pid


def test_model_zip_round_trip_keeps_the_id_and_no_case_names(trained):
    study, info, root = trained
    zip_path = seg.export_model(study, root / "shared.zip", info.model_id)
    names = zipfile.ZipFile(zip_path).namelist()
    assert not any(n.endswith("debug.json") for n in names)
    summary = next(n for n in names if n.endswith("validation/summary.json"))
    assert "metric_per_case" not in json.loads(zipfile.ZipFile(zip_path).read(summary))
    other = Study.open(root / "other.duckdb")
    imported = seg.import_model(other, zip_path, root / "other-models")
    assert imported.model_id == info.model_id and imported.folds == [0]
    assert other.models("segmentation")["model_id"].tolist() == [info.model_id]
    other.close()
