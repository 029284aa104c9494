"""Export cases (CT + manual mask) as an nnU-Net v2 raw dataset with fixed, reproducible splits.

Layout written (nnU-Net's own)::

    <raw>/Dataset501_Name/imagesTr/<case>_0000.nii.gz   labelsTr/<case>.nii.gz
                          imagesTs/<case>_0000.nii.gz   labelsTs/<case>.nii.gz   (held-out test)
                          dataset.json   split.json
    <preprocessed>/Dataset501_Name/splits_final.json     (cross-validation folds nnU-Net trains on)

Pure: works on (case_id, image_path, mask_path) triples; the study part builds them.
"""
from __future__ import annotations

import json
import os
import re
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from core.segmentation.paths import FILE_ENDING, LABELS, NnunetPaths, dataset_folder_name

CaseFiles = tuple[str, "str | os.PathLike", "str | os.PathLike"]
"""(case_id, CT image path, mask path); both files .nii.gz."""

_CASE_RE = re.compile(r"[A-Za-z0-9_-]+")


@dataclass(frozen=True)
class Split:
    """Held-out test cases and cross-validation folds over the remaining (training) cases."""

    test: list[str]
    folds: list[dict[str, list[str]]]  # nnU-Net's splits_final.json: [{"train": [...], "val": [...]}, ...]
    seed: int

    @property
    def train(self) -> list[str]:
        return sorted(set(self.folds[0]["train"]) | set(self.folds[0]["val"]))


def make_split(case_ids: Sequence[str], test_fraction: float = 0.2, n_folds: int = 5, seed: int = 12345) -> Split:
    """Draw a test set (``round(n * test_fraction)`` cases) and ``n_folds`` folds, both seeded.

    The folds are nnU-Net's own ``generate_crossval_split`` (KFold, shuffled) on the sorted
    training cases, so the same ids, fraction and seed always give the same split.
    """
    from nnunetv2.utilities.crossval_split import generate_crossval_split

    ids = sorted(case_ids)
    if len(set(ids)) != len(ids):
        raise ValueError("case ids must be unique")
    if not 0 <= test_fraction < 1:
        raise ValueError(f"test_fraction must be in [0, 1), got {test_fraction}")
    order = np.random.default_rng(seed).permutation(len(ids))
    n_test = int(round(len(ids) * test_fraction))
    test = sorted(ids[i] for i in order[:n_test])
    train = sorted(ids[i] for i in order[n_test:])
    if not 2 <= n_folds <= len(train):
        raise ValueError(f"{len(train)} training cases cannot make {n_folds} folds (need 2 <= folds <= cases)")
    folds = [{k: [str(c) for c in v] for k, v in fold.items()}
             for fold in generate_crossval_split(train, seed=seed, n_splits=n_folds)]
    return Split(test=test, folds=folds, seed=seed)


def write_dataset(paths: NnunetPaths, dataset_id: int, name: str, cases: Sequence[CaseFiles],
                  split: Split) -> Path:
    """Write the raw dataset and ``splits_final.json``; returns the raw dataset folder.

    Files are hard-linked where the file system allows (nnU-Net only reads them), else copied.
    Refuses a dataset id already used under ``paths``.
    """
    by_id = {str(c): (Path(i), Path(m)) for c, i, m in cases}
    bad = [c for c in by_id if not _CASE_RE.fullmatch(c)]
    if bad:
        raise ValueError(f"case ids may hold letters, digits, '_' and '-' only: {bad[:5]}")
    missing = set(split.train) | set(split.test)
    missing -= set(by_id)
    if missing:
        raise ValueError(f"split names cases without files: {sorted(missing)[:5]}")
    folder_name = dataset_folder_name(dataset_id, name)
    if dataset_id in paths.used_dataset_ids():
        raise FileExistsError(f"nnU-Net dataset id {dataset_id:03d} is already used "
                              f"({paths.dataset_name(dataset_id)}) under {paths.root}")
    raw = paths.raw / folder_name
    for subset, ids in (("Tr", split.train), ("Ts", split.test)):
        (raw / f"images{subset}").mkdir(parents=True, exist_ok=True)
        (raw / f"labels{subset}").mkdir(parents=True, exist_ok=True)
        for case_id in ids:
            image, mask = by_id[case_id]
            _place(image, raw / f"images{subset}" / f"{case_id}_0000{FILE_ENDING}")
            _place(mask, raw / f"labels{subset}" / f"{case_id}{FILE_ENDING}")
    dataset_json = {
        "name": folder_name,
        "description": "CT liver (non-tumoral parenchyma) and tumour before TACE",
        "channel_names": {"0": "CT"},
        "labels": LABELS,
        "numTraining": len(split.train),
        "file_ending": FILE_ENDING,
        "overwrite_image_reader_writer": "SimpleITKIO",
    }
    _write_json(raw / "dataset.json", dataset_json)
    _write_json(raw / "split.json", asdict(split))
    _write_json(paths.preprocessed / folder_name / "splits_final.json", split.folds)
    return raw


def read_split(raw_dataset: str | os.PathLike) -> Split:
    """The split written with a raw dataset folder."""
    return Split(**json.loads((Path(raw_dataset) / "split.json").read_text()))


def _place(src: Path, dst: Path) -> None:
    if dst.exists():
        dst.unlink()
    try:
        os.link(src, dst)
    except OSError:
        shutil.copyfile(src, dst)


def _write_json(path: Path, obj) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(obj, indent=2))
