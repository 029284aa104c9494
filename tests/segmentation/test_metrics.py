"""Overlap metrics, HD95 and Table 1 against values counted by hand."""
import math

import numpy as np
import pandas as pd
import pytest

from core.segmentation.evaluate import table1
from core.segmentation.metrics import case_metrics, hd95, overlap
from core.segmentation.qc import mask_flags, robust_bounds


def test_overlap_counts_by_hand():
    # pred 1 1 1 0 0 ; ref 0 1 1 1 1  ->  tp 2, fp 1, fn 2
    pred = np.array([1, 1, 1, 0, 0], bool)
    ref = np.array([0, 1, 1, 1, 1], bool)
    m = overlap(pred, ref)
    assert m["dice"] == pytest.approx(4 / 7)        # 2tp / (2tp + fp + fn) = 4 / 7
    assert m["jaccard"] == pytest.approx(2 / 5)     # tp / (tp + fp + fn)
    assert m["precision"] == pytest.approx(2 / 3)   # tp / (tp + fp)
    assert m["recall"] == pytest.approx(2 / 4)      # tp / (tp + fn)


def test_overlap_of_empty_masks_is_undefined():
    empty = np.zeros(4, bool)
    assert all(math.isnan(v) for v in overlap(empty, empty).values())
    m = overlap(empty, np.array([1, 0, 0, 0], bool))
    assert m["dice"] == 0 and m["recall"] == 0 and math.isnan(m["precision"])


def test_hd95_uses_spacing():
    # single voxels 3 apart along x with 2 mm spacing: every surface distance is 6 mm
    pred, ref = np.zeros((1, 1, 10), bool), np.zeros((1, 1, 10), bool)
    pred[0, 0, 5], ref[0, 0, 2] = True, True
    assert hd95(pred, ref, (1.0, 1.0, 2.0)) == pytest.approx(6.0)
    assert hd95(pred, pred, (1.0, 1.0, 2.0)) == 0.0
    assert math.isnan(hd95(pred, np.zeros_like(ref), (1, 1, 1)))


def test_hd95_of_shifted_cube_matches_full_volume_computation():
    # a 4^3 cube shifted by one voxel along z (spacing 5 mm): the 95th percentile of the
    # pooled surface distances is 5 mm; cropping to the bounding box must not change it
    ref = np.zeros((12, 12, 12), bool)
    ref[3:7, 3:7, 3:7] = True
    pred = np.roll(ref, 1, axis=0)
    assert hd95(pred, ref, (5.0, 1.0, 1.0)) == pytest.approx(5.0)


def test_case_metrics_per_label():
    ref = np.array([[[0, 1, 1, 2]]], np.uint8)
    pred = np.array([[[1, 1, 1, 0]]], np.uint8)
    m = case_metrics(pred, ref, (1, 1, 1)).set_index(["label", "metric"])["value"]
    assert m["liver", "dice"] == pytest.approx(2 * 2 / (2 * 2 + 1 + 0))  # tp 2, fp 1, fn 0
    assert m["tumour", "recall"] == 0 and math.isnan(m["tumour", "hd95"])
    with pytest.raises(ValueError):
        case_metrics(pred, ref[..., :3], (1, 1, 1))


def test_table1_means_per_split_with_pooled_cross_validation():
    rows = [("fold 1", "a", 0.5), ("fold 1", "b", 0.7), ("fold 0", "c", 0.9), ("test", "d", 0.4),
            ("fold 0", "e", np.nan)]
    metrics = pd.DataFrame([{"split": s, "case_id": c, "label": "liver", "metric": "dice", "value": v}
                            for s, c, v in rows])
    table = table1(metrics)
    assert list(table.columns) == ["fold 0", "fold 1", "cross-validation", "test"]
    assert table.loc[("liver", "dice")].tolist() == pytest.approx([0.9, 0.6, 0.7, 0.4])


def test_robust_bounds_and_flags():
    assert robust_bounds([1500, 1600]) is None  # too few reference volumes
    low, high = robust_bounds([1000, 1200, 1400, 1600, 1800])  # median 1400, IQR 400, k 2
    assert (low, high) == (pytest.approx(600), pytest.approx(2200))
    assert mask_flags({"liver": 1300, "tumour": 50}, (low, high)) is None
    flags = mask_flags({"liver": 2500, "tumour": 0}, (low, high))
    assert "no tumour label" in flags and "2500 mL outside" in flags
    assert mask_flags({"liver": 5000, "tumour": 10}, None) is None
