"""nnU-Net dataset export: reproducible splits, nnU-Net's folder layout, unique dataset ids."""
import json

import pytest

from core.segmentation.dataset import make_split, read_split, write_dataset
from core.segmentation.paths import NnunetPaths, dataset_folder_name, dataset_id
from core.segmentation.synthetic import write_synthetic_cases


def test_split_is_reproducible_and_disjoint():
    ids = [f"c{i:02d}" for i in range(20)]
    split = make_split(ids, test_fraction=0.2, n_folds=4, seed=1)
    assert make_split(list(reversed(ids)), 0.2, 4, seed=1) == split
    assert make_split(ids, 0.2, 4, seed=2).test != split.test
    assert len(split.test) == 4 and set(split.test).isdisjoint(split.train)
    assert sorted(split.test + split.train) == ids
    vals = [c for fold in split.folds for c in fold["val"]]
    assert sorted(vals) == split.train  # every training case validated exactly once
    assert all(set(f["train"]).isdisjoint(f["val"]) for f in split.folds)


def test_split_refuses_impossible_folds():
    with pytest.raises(ValueError, match="folds"):
        make_split(["a", "b", "c"], test_fraction=0.34, n_folds=3)
    with pytest.raises(ValueError, match="unique"):
        make_split(["a", "a", "b"])


def test_write_dataset_layout(tmp_path):
    cases = write_synthetic_cases(tmp_path / "cases", 4, shape=(4, 8, 8))
    paths = NnunetPaths(tmp_path / "nnunet")
    split = make_split([c[0] for c in cases], test_fraction=0.25, n_folds=3)
    raw = write_dataset(paths, 501, "Liver", cases, split)
    assert raw == paths.raw / "Dataset501_Liver"
    meta = json.loads((raw / "dataset.json").read_text())
    assert meta["channel_names"] == {"0": "CT"} and meta["numTraining"] == 3
    assert meta["labels"] == {"background": 0, "liver": 1, "tumour": 2} and meta["file_ending"] == ".nii.gz"
    assert sorted(p.name for p in (raw / "imagesTr").iterdir()) == [f"{c}_0000.nii.gz" for c in split.train]
    assert sorted(p.name for p in (raw / "labelsTs").iterdir()) == [f"{c}.nii.gz" for c in split.test]
    assert json.loads((paths.preprocessed / raw.name / "splits_final.json").read_text()) == split.folds
    assert read_split(raw) == split
    assert paths.next_dataset_id() == 502
    with pytest.raises(FileExistsError):
        write_dataset(paths, 501, "Other", cases, split)
    with pytest.raises(ValueError, match="case ids"):
        write_dataset(paths, 503, "Bad", [("a b", *cases[0][1:])], make_split(["a b", "c", "d"], 0, 2))


def test_paths_and_names(tmp_path):
    paths = NnunetPaths.for_study_root(tmp_path)
    env = paths.environ({})
    assert env["nnUNet_raw"] == str(tmp_path / "nnunet" / "raw")
    assert env["nnUNet_extTrainer"].endswith("trainers")
    assert dataset_folder_name(7, "Liver-CT") == "Dataset007_Liver-CT"
    assert dataset_id("Dataset007_Liver-CT") == 7
    with pytest.raises(ValueError):
        dataset_folder_name(501, "liver ct")
    with pytest.raises(KeyError):
        paths.dataset_name(501)
