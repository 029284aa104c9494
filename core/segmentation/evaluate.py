"""Evaluate a trained model: cross-validation folds and the held-out test cases, and Table 1.

Fold ``k`` is scored on nnU-Net's own validation predictions (``fold_k/validation/``, made
by the trainer at the end of training) against ``labelsTr``; the test cases are predicted
with all trained folds (the batch path) and scored against ``labelsTs``.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Sequence

import pandas as pd

from core.segmentation.dataset import read_split
from core.segmentation.metrics import FOREGROUND, METRICS, evaluate_files
from core.segmentation.paths import FILE_ENDING
from core.segmentation.predict import predict_cases

CROSS_VALIDATION = "cross-validation"


def cross_validation_metrics(model_dir: str | os.PathLike, raw_dataset: str | os.PathLike,
                             folds: Sequence[int]) -> pd.DataFrame:
    """Per-case metrics of each fold's validation cases; split ``fold k``."""
    model_dir, raw = Path(model_dir), Path(raw_dataset)
    split = read_split(raw)
    frames = [evaluate_files(((c, model_dir / f"fold_{k}" / "validation" / f"{c}{FILE_ENDING}",
                               raw / "labelsTr" / f"{c}{FILE_ENDING}") for c in split.folds[k]["val"]), f"fold {k}")
              for k in folds]
    return pd.concat(frames, ignore_index=True)


def test_metrics(predictor, raw_dataset: str | os.PathLike, out_dir: str | os.PathLike) -> pd.DataFrame:
    """Predict the held-out test cases into ``out_dir`` (existing masks are kept) and score them; split ``test``."""
    raw, out_dir = Path(raw_dataset), Path(out_dir)
    test = read_split(raw).test
    todo = [(c, raw / "imagesTs" / f"{c}_0000{FILE_ENDING}", out_dir / f"{c}{FILE_ENDING}") for c in test
            if not (out_dir / f"{c}{FILE_ENDING}").exists()]
    failed = [p for p in predict_cases(predictor, todo) if p.error]
    if failed:
        raise RuntimeError(f"test case {failed[0].case_id} could not be predicted: {failed[0].error}")
    return evaluate_files(((c, out_dir / f"{c}{FILE_ENDING}", raw / "labelsTs" / f"{c}{FILE_ENDING}") for c in test),
                          "test")


def table1(metrics: pd.DataFrame) -> pd.DataFrame:
    """The paper's Table 1: mean over cases; rows (label, metric); columns fold 0..k, cross-validation, others.

    ``metrics`` is long (split, label, metric, value, ...). The cross-validation column pools
    the cases of all folds; other splits (``test``, a centre) follow. NaNs are left out.
    """
    folds = metrics[metrics["split"].str.startswith("fold ")]
    if not folds.empty:
        metrics = pd.concat([metrics, folds.assign(split=CROSS_VALIDATION)], ignore_index=True)
    table = metrics.pivot_table(index=["label", "metric"], columns="split", values="value", aggfunc="mean",
                                dropna=False)
    rows = [(label, metric) for label in FOREGROUND for metric in METRICS if (label, metric) in table.index]
    table = table.loc[rows, sorted(table.columns, key=_split_order)]
    table.columns.name = None
    return table


def _split_order(split: str) -> tuple[int, int, str]:
    if split.startswith("fold "):
        return (0, int(split[5:]), "")
    return (1, 0, "") if split == CROSS_VALIDATION else (2, split != "test", split)
