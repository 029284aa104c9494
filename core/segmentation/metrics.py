"""Overlap and distance metrics between a predicted and a reference label map.

Per label: Dice, Jaccard, precision, recall (voxel counts) and HD95 (mm). A ratio whose
denominator is zero (e.g. Dice when both masks lack the label) is NaN; HD95 is NaN when
either mask lacks the label. HD95 follows MedPy: the 95th percentile of the pooled
surface-to-surface distances in both directions, with 6-connected surfaces and the voxel
spacing; it is computed on the bounding box of both masks, so it stays cheap on CT volumes.
"""
from __future__ import annotations

import os
from typing import Iterable, Sequence

import numpy as np
import pandas as pd
from scipy import ndimage

from core.segmentation.paths import LABELS

METRICS = ("dice", "jaccard", "precision", "recall", "hd95")
FOREGROUND = {name: value for name, value in LABELS.items() if value}


def overlap(pred: np.ndarray, ref: np.ndarray) -> dict[str, float]:
    """Dice, Jaccard, precision and recall of two boolean masks of the same shape."""
    tp = int(np.count_nonzero(pred & ref))
    fp = int(np.count_nonzero(pred)) - tp
    fn = int(np.count_nonzero(ref)) - tp
    return {"dice": _ratio(2 * tp, 2 * tp + fp + fn), "jaccard": _ratio(tp, tp + fp + fn),
            "precision": _ratio(tp, tp + fp), "recall": _ratio(tp, tp + fn)}


def hd95(pred: np.ndarray, ref: np.ndarray, spacing: Sequence[float]) -> float:
    """95th percentile Hausdorff distance (mm) between two boolean masks; ``spacing`` in array axis order."""
    if not pred.any() or not ref.any():
        return float("nan")
    box = _bounding_box(pred | ref)
    pred, ref = pred[box], ref[box]
    pred_surface, ref_surface = _surface(pred), _surface(ref)
    to_ref = ndimage.distance_transform_edt(~ref_surface, sampling=spacing)[pred_surface]
    to_pred = ndimage.distance_transform_edt(~pred_surface, sampling=spacing)[ref_surface]
    return float(np.percentile(np.concatenate([to_ref, to_pred]), 95))


def case_metrics(pred: np.ndarray, ref: np.ndarray, spacing: Sequence[float],
                 labels: dict[str, int] = FOREGROUND) -> pd.DataFrame:
    """Long table (label, metric, value) for two label maps; ``spacing`` (mm) in array axis order."""
    if pred.shape != ref.shape:
        raise ValueError(f"prediction shape {pred.shape} differs from reference {ref.shape}")
    rows = []
    for name, value in labels.items():
        p, r = pred == value, ref == value
        values = {**overlap(p, r), "hd95": hd95(p, r, spacing)}
        rows += [(name, metric, v) for metric, v in values.items()]
    return pd.DataFrame(rows, columns=["label", "metric", "value"])


def evaluate_files(pairs: Iterable[tuple[str, str | os.PathLike, str | os.PathLike]], split: str) -> pd.DataFrame:
    """Metrics of (case_id, predicted mask, reference mask) files: columns split, case_id, label, metric, value."""
    import SimpleITK as sitk

    frames = []
    for case_id, pred_path, ref_path in pairs:
        ref_image = sitk.ReadImage(str(ref_path))
        pred = sitk.GetArrayFromImage(sitk.ReadImage(str(pred_path)))
        ref = sitk.GetArrayFromImage(ref_image)
        frame = case_metrics(pred, ref, ref_image.GetSpacing()[::-1])
        frames.append(frame.assign(split=split, case_id=case_id))
    columns = ["split", "case_id", "label", "metric", "value"]
    return pd.concat(frames, ignore_index=True)[columns] if frames else pd.DataFrame(columns=columns)


def _ratio(num: int, den: int) -> float:
    return num / den if den else float("nan")


def _bounding_box(mask: np.ndarray) -> tuple[slice, ...]:
    """Slices around the True voxels, one voxel wider on each side where the array allows."""
    box = []
    for axis in range(mask.ndim):
        hits = np.flatnonzero(mask.any(axis=tuple(a for a in range(mask.ndim) if a != axis)))
        box.append(slice(max(hits[0] - 1, 0), hits[-1] + 2))
    return tuple(box)


def _surface(mask: np.ndarray) -> np.ndarray:
    """Voxels of ``mask`` with a 6-connected neighbour outside it (the array border counts as outside)."""
    return mask & ~ndimage.binary_erosion(mask, structure=ndimage.generate_binary_structure(mask.ndim, 1),
                                          border_value=0)
