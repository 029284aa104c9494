"""The dashboard's table and figure helpers: number formats, downloads, plot export settings, figures."""
from __future__ import annotations

import io
import math

import numpy as np
import pandas as pd
import pytest

from core import plots
from dashboard import figures, tables


@pytest.mark.parametrize("p, text", [(0.0004, "<0.001"), (0.001, "0.001"), (0.0449, "0.045"), (0.5, "0.500"),
                                     (None, ""), (float("nan"), "")])
def test_p_values(p, text):
    assert tables.fmt_p(p) == text


def test_numbers_and_intervals():
    assert tables.fmt_num(0.81234) == "0.812"
    assert tables.fmt_num(-0.0001, 2) == "0.00"  # never "-0.00"
    assert tables.fmt_num(None) == "" and tables.fmt_num(float("nan")) == ""
    assert tables.fmt_ci(0.8123, 0.7, 0.91) == "0.812 (0.700\u20130.910)"
    assert tables.fmt_duration(75) == "1 min 15 s"


def test_format_table_rounds_and_formats_p():
    df = pd.DataFrame({"variable": ["inr", "alb"], "or": [2.34567, 0.912345], "p": [0.00001, 0.2]})
    out = tables.format_table(df)
    assert list(out["p"]) == ["<0.001", "0.200"]
    assert list(out["or"]) == [2.346, 0.912]


def test_downloads_round_trip():
    df = pd.DataFrame({"a": [1.5, 2.0], "b": ["x", "y"]})
    assert pd.read_csv(io.BytesIO(tables.to_csv(df))).equals(df)
    back = pd.read_excel(io.BytesIO(tables.to_xlsx(df, "table")))
    assert back.equals(df)


def test_plot_config_exports_png_by_default():
    config = figures.plot_config("roc curve/centre")
    assert config["toImageButtonOptions"]["format"] == "png"
    assert config["toImageButtonOptions"]["filename"] == "roc_curve_centre"


def test_figures_from_core_shaped_results():
    roc = {"combined": pd.DataFrame({"fpr": [0, 0.2, 1], "tpr": [0, 0.8, 1]})}
    fig = plots.roc(roc, {"combined": "Combined: AUC 0.900 (0.800\u20131.000)"})
    assert any(t.name == "Combined: AUC 0.900 (0.800\u20131.000)" for t in fig.data)
    dca = {"Combined": pd.DataFrame({"threshold": [0.1, 0.2], "net_benefit": [0.2, 0.1], "treat_all": [0.15, 0.05]})}
    assert len(plots.decision_curves(dca).data) == 3  # model, treat all, treat none
    image = np.full((8, 8), 40, np.int16)
    mask = np.zeros((8, 8), np.uint8)
    mask[2:6, 2:6] = 1
    rgb = plots.slice_rgb(image, mask, 30, 300, "outline")
    assert tuple(rgb[2, 2]) == plots.MASK_COLOURS[1] and tuple(rgb[4, 4]) != plots.MASK_COLOURS[1]
    assert plots.best_slice(np.stack([mask * 0, mask, mask * 2]), 3) == 2  # the tumour slice


def test_nomogram_labels_do_not_overlap():
    spec = {"axes": [{"name": "inr", "kind": "continuous", "values": [0.8, 0.9, 1.0, 1.1],
                      "points": [0.0, 1.0, 2.0, 3.0]}],
            "total_points_max": 100.0, "total_points_scale": [0, 50, 100],
            "probability_scale": [{"probability": 0.1, "total_points": 40.0}, {"probability": 0.2, "total_points": 41.0}]}
    fig = plots.nomogram(spec, {"inr": "INR"}, {"inr": 2.0, "total_points": 2.0, "probability": 0.05})
    labelled = [t for t in fig.data if t.text is not None and t.y[0] == 3]  # the INR row (Points is 4)
    texts = [x for x in labelled[0].text if x]
    assert 1 <= len(texts) < 4
    assert not math.isnan(fig.layout.height)
