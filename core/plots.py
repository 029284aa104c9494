"""Plotly figures of the dashboard and the HTML report, built from core's result objects (DataFrames and dicts).

Every function returns a ``plotly.graph_objects.Figure`` and computes no statistics: curves,
intervals and tests come from ``core``; this module only draws them.
"""
from __future__ import annotations

import base64
import io
import math
from typing import Mapping, Sequence

import numpy as np
import pandas as pd
import plotly.graph_objects as go

MODEL_COLOURS = {"clinical": "#1f77b4", "radiomics": "#2ca02c", "combined": "#d62728"}
REGION_COLOURS = {"liver": "#8c564b", "tumor": "#9467bd", "tumour": "#9467bd", "clinical": "#1f77b4",
                  "other": "#7f7f7f"}
MASK_COLOURS = {1: (46, 204, 113), 2: (231, 76, 60)}  # non-tumoral liver green, tumour red
_EXTRA = ["#ff7f0e", "#17becf", "#bcbd22", "#e377c2", "#7f7f7f", "#8c564b"]


def colour(name: str, i: int = 0) -> str:
    return MODEL_COLOURS.get(str(name).lower(), _EXTRA[i % len(_EXTRA)])


def _layout(fig: go.Figure, title: str | None = None, height: int = 460, **kwargs) -> go.Figure:
    kwargs.setdefault("margin", dict(l=60, r=20, t=50 if title else 20, b=50))
    fig.update_layout(template="plotly_white", height=height,
                      title=dict(text=title, x=0.0, xanchor="left") if title else None,
                      font=dict(size=13), **kwargs)
    return fig


# --------------------------------------------------------------------------------- images
def window(image: np.ndarray, level: float = 30.0, width: float = 300.0) -> np.ndarray:
    """HU to 0-255 grey with a window (level/width, the paper's abdomen window is 30/300)."""
    low = level - width / 2
    grey = (np.asarray(image, dtype=np.float32) - low) / max(width, 1e-6)
    return (np.clip(grey, 0, 1) * 255).astype(np.uint8)


def _outline(mask: np.ndarray) -> np.ndarray:
    """Boundary pixels of a 2-D boolean mask (4-neighbourhood)."""
    inner = mask.copy()
    inner[1:, :] &= mask[:-1, :]
    inner[:-1, :] &= mask[1:, :]
    inner[:, 1:] &= mask[:, :-1]
    inner[:, :-1] &= mask[:, 1:]
    return mask & ~inner


def slice_rgb(image: np.ndarray, mask: np.ndarray | None, level: float, width: float,
              overlay: str = "outline", opacity: float = 0.4) -> np.ndarray:
    """An axial slice as RGB: windowed grey with the mask's labels filled or outlined."""
    grey = window(image, level, width)
    rgb = np.repeat(grey[:, :, None], 3, axis=2).astype(np.float32)
    if mask is not None and overlay != "none":
        for label, col in MASK_COLOURS.items():
            region = mask == label
            if overlay == "outline":
                edge = _outline(region)
                rgb[edge] = col
            else:
                rgb[region] = (1 - opacity) * rgb[region] + opacity * np.array(col, dtype=np.float32)
    return rgb.round().astype(np.uint8)


def _png_uri(rgb: np.ndarray) -> str:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def ct_slice(image: np.ndarray, mask: np.ndarray | None, spacing_xy: tuple[float, float] = (1.0, 1.0),
             level: float = 30.0, width: float = 300.0, overlay: str = "outline", opacity: float = 0.4,
             title: str | None = None) -> go.Figure:
    """One axial CT slice (rows y, columns x) in millimetres with the mask over it."""
    rgb = slice_rgb(image, mask, level, width, overlay, opacity)
    dx, dy = float(spacing_xy[0]), float(spacing_xy[1])
    fig = go.Figure(go.Image(source=_png_uri(rgb), dx=dx, dy=dy, hoverinfo="skip"))
    for label, name in ((1, "non-tumoral liver"), (2, "tumour")):  # legend entries for the colours
        fig.add_trace(go.Scatter(x=[None], y=[None], mode="markers", name=name,
                                 marker=dict(size=10, color="rgb({},{},{})".format(*MASK_COLOURS[label]),
                                             symbol="square")))
    h, w = rgb.shape[:2]
    side = 560
    fig.update_xaxes(visible=False, range=[-dx / 2, w * dx - dx / 2])
    fig.update_yaxes(visible=False, range=[h * dy - dy / 2, -dy / 2], scaleanchor="x")
    return _layout(fig, title, height=side, showlegend=mask is not None and overlay != "none",
                   legend=dict(orientation="h", y=-0.02), margin=dict(l=10, r=10, t=40 if title else 10, b=30))


def volumes(masks: pd.DataFrame, column: str, label: str, highlight: Sequence[str] = ()) -> go.Figure:
    """Per-case volumes as a strip over a box; flagged cases in red."""
    df = masks.dropna(subset=[column])
    flagged = df["patient_id"].isin(set(highlight))
    fig = go.Figure()
    fig.add_trace(go.Box(x=df[column], name=label, boxpoints=False, marker_color="#1f5f8b", hoverinfo="skip"))
    for mask, name, col in ((~flagged, "cases", "#1f5f8b"), (flagged, "flagged", "#d62728")):
        part = df[mask]
        if len(part):
            fig.add_trace(go.Scatter(x=part[column], y=[label] * len(part), mode="markers", name=name,
                                     text=part["patient_id"], marker=dict(color=col, size=7, opacity=0.7),
                                     hovertemplate="%{text}: %{x:.1f} mL<extra></extra>"))
    fig.update_xaxes(title=f"{label} (mL)")
    return _layout(fig, height=220, showlegend=False)


def seg_metrics(df: pd.DataFrame, metric: str = "dice") -> go.Figure:
    """Per-case overlap metric by split (folds and test) and label, as box plots."""
    part = df[df["metric"] == metric]
    fig = go.Figure()
    for i, (label, rows) in enumerate(part.groupby("label", sort=False)):
        fig.add_trace(go.Box(x=rows["split"], y=rows["value"], name=str(label), boxpoints="all", jitter=0.3,
                             marker_color=_EXTRA[i % len(_EXTRA)], text=rows["patient_id"]))
    fig.update_layout(boxmode="group")
    fig.update_yaxes(title=metric)
    return _layout(fig, height=380)


# -------------------------------------------------------------------------------- clinical
def forest(df: pd.DataFrame, label: str = "variable", estimate: str = "or", low: str = "ci_low",
           high: str = "ci_high", p: str | None = "p", title: str | None = None) -> go.Figure:
    """Odds ratios with confidence intervals on a log axis, reference line at 1."""
    df = df.dropna(subset=[estimate]).iloc[::-1]
    text = [f"OR {e:.2f} ({lo:.2f}\u2013{hi:.2f})" + (f", P {_p(pv)}" if p and p in df else "")
            for e, lo, hi, pv in zip(df[estimate], df[low], df[high], df[p] if p and p in df else [None] * len(df))]
    fig = go.Figure(go.Scatter(
        x=df[estimate], y=df[label].astype(str), mode="markers", marker=dict(size=11, symbol="square", color="#1f5f8b"),
        error_x=dict(type="data", symmetric=False, array=df[high] - df[estimate], arrayminus=df[estimate] - df[low],
                     thickness=2, width=6, color="#1f5f8b"),
        text=text, hovertemplate="%{y}: %{text}<extra></extra>", name="odds ratio"))
    fig.add_vline(x=1, line=dict(color="#888", dash="dash"))
    fig.update_xaxes(type="log", title="Odds ratio (95% CI, log scale)")
    return _layout(fig, title, height=max(220, 70 + 46 * len(df)), showlegend=False)


def _p(p) -> str:
    if p is None or (isinstance(p, float) and math.isnan(p)):
        return ""
    return "<0.001" if p < 0.001 else f"{p:.3f}"


# ------------------------------------------------------------------------------- selection
def funnel(steps: Sequence[tuple[str, int]], title: str | None = None) -> go.Figure:
    """Features left after each selection step, as bars on a log axis (3,748 and 10 both readable)."""
    labels = [s for s, _ in steps][::-1]
    counts = [max(int(n), 0) for _, n in steps][::-1]
    fig = go.Figure(go.Bar(x=[max(n, 0.8) for n in counts], y=labels, orientation="h", text=[f"{n:,}" for n in counts],
                           textposition="outside", marker=dict(color="#1f5f8b"), cliponaxis=False,
                           hovertemplate="%{y}: %{text}<extra></extra>"))
    top = max(counts + [1])
    fig.update_xaxes(type="log", title="Features (log scale)", range=[-0.1, math.log10(top) + 0.35], dtick=1)
    fig.update_yaxes(automargin=True)
    return _layout(fig, title, height=90 + 44 * len(steps), showlegend=False)


def lasso_path(path: pd.DataFrame, lambda_min: float | None, lambda_1se: float | None,
               highlight: Sequence[str] = (), title: str | None = None) -> go.Figure:
    """LASSO coefficients against log(lambda); columns log_lambda, feature, coef."""
    fig = go.Figure()
    keep = set(highlight)
    for feature, rows in path.groupby("feature", sort=False):
        strong = feature in keep
        fig.add_trace(go.Scatter(x=rows["log_lambda"], y=rows["coef"], mode="lines", name=str(feature),
                                 line=dict(width=2 if strong else 1), opacity=1.0 if strong else 0.45,
                                 showlegend=False, hovertemplate=f"{feature}<br>log(\u03bb) %{{x:.2f}}: %{{y:.3f}}<extra></extra>"))
    _lambda_lines(fig, lambda_min, lambda_1se)
    fig.update_xaxes(title="log(\u03bb)")
    fig.update_yaxes(title="Coefficient")
    return _layout(fig, title, height=420)


def cv_curve(cv: pd.DataFrame, lambda_min: float | None, lambda_1se: float | None,
             measure: str = "Binomial deviance", title: str | None = None) -> go.Figure:
    """Cross-validated deviance (mean +/- SE) against log(lambda); columns log_lambda, mean, se
    and optionally nonzero (features kept at each lambda, shown on top)."""
    fig = go.Figure(go.Scatter(
        x=cv["log_lambda"], y=cv["mean"], mode="markers", marker=dict(color="#d62728", size=6),
        error_y=dict(type="data", array=cv["se"], color="#aaa", thickness=1, width=3),
        name=measure, hovertemplate="log(\u03bb) %{x:.2f}: %{y:.3f}<extra></extra>"))
    _lambda_lines(fig, lambda_min, lambda_1se)
    if "nonzero" in cv:
        step = max(1, len(cv) // 12)
        sub = cv.iloc[::step]
        fig.add_trace(go.Scatter(x=sub["log_lambda"], y=[1.0] * len(sub), text=sub["nonzero"].astype(int).astype(str),
                                 mode="text", yaxis="y2", showlegend=False, hoverinfo="skip",
                                 textfont=dict(size=10, color="#555")))
        fig.update_layout(yaxis2=dict(overlaying="y", range=[0, 1.05], visible=False))
    fig.update_xaxes(title="log(\u03bb)")
    fig.update_yaxes(title=measure)
    return _layout(fig, title, height=420, showlegend=False)


def _lambda_lines(fig: go.Figure, lambda_min: float | None, lambda_1se: float | None) -> None:
    for value, name, dash in ((lambda_min, "\u03bb.min", "dash"), (lambda_1se, "\u03bb.1se", "dot")):
        if value is not None and value > 0:
            fig.add_vline(x=math.log(value), line=dict(color="#444", dash=dash, width=1),
                          annotation_text=name, annotation_position="bottom right" if dash == "dot" else "bottom left",
                          annotation_font=dict(size=11, color="#444"))


def weights(df: pd.DataFrame, feature: str = "feature", coef: str = "coef", region: str | None = "region",
            title: str | None = None) -> go.Figure:
    """Selected features' coefficients as horizontal bars, coloured by region (paper's Figure 3b)."""
    df = df.reindex(df[coef].abs().sort_values().index)
    regions = df[region].fillna("other").astype(str) if region and region in df else pd.Series("other", index=df.index)
    fig = go.Figure()
    for name in dict.fromkeys(regions):
        part = df[regions == name]
        fig.add_trace(go.Bar(x=part[coef], y=part[feature].astype(str), orientation="h", name=name,
                             marker_color=REGION_COLOURS.get(name, "#7f7f7f"),
                             hovertemplate="%{y}: %{x:.4f}<extra></extra>"))
    fig.add_vline(x=0, line=dict(color="#444", width=1))
    fig.update_xaxes(title="Coefficient")
    fig.update_yaxes(categoryorder="array", categoryarray=list(df[feature].astype(str)), automargin=True)
    return _layout(fig, title, height=max(280, 110 + 32 * len(df)), barmode="overlay", showlegend=True,
                   legend=dict(title="Region", orientation="h", x=0, y=1.0, xanchor="left", yanchor="bottom"),
                   margin=dict(l=60, r=20, t=80 if title else 40, b=50))


def stability(df: pd.DataFrame, feature: str = "feature", frequency: str = "frequency",
              order: Sequence[str] | None = None, title: str | None = None) -> go.Figure:
    """How often each feature was selected across bootstrap replicates (0-1), as horizontal bars
    in ``order`` (e.g. the weights chart's); under one half in red, with a line at 0.5."""
    if order is not None:
        df = df.set_index(feature).reindex(list(order)).reset_index()
    share = df[frequency].fillna(0.0)
    fig = go.Figure(go.Bar(x=share, y=df[feature].astype(str), orientation="h",
                           marker_color=np.where(share < 0.5, "#d62728", "#2ca02c"),
                           hovertemplate="%{y}: selected in %{x:.0%} of replicates<extra></extra>"))
    fig.add_vline(x=0.5, line=dict(color="#444", width=1, dash="dash"))
    fig.update_xaxes(title="Share of bootstrap replicates selecting it", range=[0, 1], tickformat=".0%")
    fig.update_yaxes(categoryorder="array", categoryarray=list(df[feature].astype(str)), automargin=True)
    return _layout(fig, title, height=max(280, 110 + 32 * len(df)), showlegend=False,
                   margin=dict(l=60, r=20, t=80 if title else 40, b=50))


# ---------------------------------------------------------------------------- evaluation
def roc(curves: Mapping[str, pd.DataFrame], legend: Mapping[str, str] | None = None,
        title: str | None = None) -> go.Figure:
    """ROC curves (columns fpr, tpr) with each legend entry naming the AUC and its CI."""
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=[0, 1], y=[0, 1], mode="lines", line=dict(color="#bbb", dash="dash"),
                             showlegend=False, hoverinfo="skip"))
    for i, (name, curve) in enumerate(curves.items()):
        fig.add_trace(go.Scatter(x=curve["fpr"], y=curve["tpr"], mode="lines", line=dict(color=colour(name, i), width=2,
                                 shape="hv"), name=(legend or {}).get(name, name),
                                 hovertemplate="1 \u2212 specificity %{x:.3f}<br>sensitivity %{y:.3f}<extra></extra>"))
    fig.update_xaxes(title="1 \u2212 Specificity", range=[-0.01, 1.01], constrain="domain")
    fig.update_yaxes(title="Sensitivity", range=[-0.01, 1.01], scaleanchor="x")
    return _layout(fig, title, height=470, legend=dict(x=0.98, y=0.02, xanchor="right", yanchor="bottom",
                                                       bgcolor="rgba(255,255,255,0.85)"))


def decision_curves(curves: Mapping[str, pd.DataFrame], title: str | None = None,
                    max_threshold: float | None = None) -> go.Figure:
    """Net benefit of each model against threshold probability, with treat-all and treat-none.

    Each frame has columns threshold, net_benefit and (any one of them) treat_all, treat_none;
    with net_benefit_low and net_benefit_high (bootstrap percentile limits) the band is drawn.
    """
    fig = go.Figure()
    first = next(iter(curves.values()), None)
    for i, (name, curve) in enumerate(curves.items()):
        col = colour(name, i)
        if {"net_benefit_low", "net_benefit_high"} <= set(curve.columns):
            fig.add_trace(go.Scatter(x=np.r_[curve["threshold"], curve["threshold"][::-1]],
                                     y=np.r_[curve["net_benefit_high"], curve["net_benefit_low"][::-1]],
                                     fill="toself", fillcolor=col, opacity=0.15, line=dict(width=0),
                                     legendgroup=name, showlegend=False, hoverinfo="skip"))
        fig.add_trace(go.Scatter(x=curve["threshold"], y=curve["net_benefit"], mode="lines", name=name,
                                 line=dict(color=col, width=2), legendgroup=name,
                                 hovertemplate="threshold %{x:.2f}: %{y:.3f}<extra></extra>"))
    if first is not None:
        if "treat_all" in first:
            fig.add_trace(go.Scatter(x=first["threshold"], y=first["treat_all"], mode="lines", name="Treat all",
                                     line=dict(color="#777", width=1)))
        fig.add_trace(go.Scatter(x=first["threshold"], y=np.zeros(len(first)), mode="lines", name="Treat none",
                                 line=dict(color="#000", width=1, dash="dash")))
        prevalence = float(first["treat_all"].iloc[0]) if "treat_all" in first else 0.3
        top = max(0.05, prevalence * 1.15, *(c["net_benefit"].max() for c in curves.values()))
        fig.update_yaxes(range=[-0.05 - 0.02 * top, top + 0.02])
    fig.update_xaxes(title="Threshold probability", range=[0, max_threshold or 1])
    fig.update_yaxes(title="Net benefit")
    return _layout(fig, title, height=430, legend=dict(x=0.98, y=0.98, xanchor="right", yanchor="top",
                                                       bgcolor="rgba(255,255,255,0.85)"))


def calibration(curves: Mapping[str, pd.DataFrame], smooth: Mapping[str, pd.DataFrame] | None = None,
                legend: Mapping[str, str] | None = None, title: str | None = None) -> go.Figure:
    """Observed against predicted risk: grouped points with Wilson intervals, smoothed lines, the ideal line.

    Grouped frames: predicted, observed, observed_low, observed_high; smooth: predicted, observed.
    """
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=[0, 1], y=[0, 1], mode="lines", name="Ideal", line=dict(color="#bbb", dash="dash")))
    for i, (name, curve) in enumerate(curves.items()):
        col = colour(name, i)
        err = None
        if {"observed_low", "observed_high"} <= set(curve.columns):
            err = dict(type="data", symmetric=False, array=curve["observed_high"] - curve["observed"],
                       arrayminus=curve["observed"] - curve["observed_low"], color=col, thickness=1, width=3)
        fig.add_trace(go.Scatter(x=curve["predicted"], y=curve["observed"], mode="markers", error_y=err,
                                 marker=dict(color=col, size=8), name=(legend or {}).get(name, name),
                                 legendgroup=name,
                                 hovertemplate="predicted %{x:.3f}<br>observed %{y:.3f}<extra></extra>"))
        if smooth and name in smooth:
            s = smooth[name]
            fig.add_trace(go.Scatter(x=s["predicted"], y=s["observed"], mode="lines", line=dict(color=col, width=2),
                                     legendgroup=name, showlegend=False, hoverinfo="skip"))
    fig.update_xaxes(title="Predicted probability", range=[-0.01, 1.01], constrain="domain")
    fig.update_yaxes(title="Observed proportion", range=[-0.01, 1.01], scaleanchor="x")
    return _layout(fig, title, height=560, legend=dict(orientation="h", x=0, y=-0.18, xanchor="left", yanchor="top",
                                                       font=dict(size=11)))


def best_slice(mask: np.ndarray | None, n_slices: int) -> int:
    """The axial slice to open a case on: most tumour, else most liver, else the middle."""
    if mask is None:
        return n_slices // 2
    for label in (2, 1):
        area = (mask == label).sum(axis=(1, 2))
        if area.any():
            return int(np.argmax(area))
    return n_slices // 2


# -------------------------------------------------------------------------------- nomogram
def _fmt_tick(value) -> str:
    if isinstance(value, str):
        return value
    value = float(value)
    if value == int(value) and abs(value) < 1e6:
        return f"{int(value)}"
    return f"{value:.3g}" if abs(value) < 1000 else f"{value:.0f}"


def nomogram(spec: Mapping, labels: Mapping[str, str] | None = None, patient: Mapping | None = None,
             title: str | None = None) -> go.Figure:
    """The nomogram's scales (``Nomogram.to_dict()``): Points, one axis per predictor, Total points and
    Probability; with ``patient`` (``Nomogram.points(values)``) the patient's points are marked."""
    labels = labels or {}
    axes = list(spec["axes"])
    total_max = float(spec["total_points_max"])
    to_x = 100.0 / total_max if total_max > 0 else 1.0
    rows = ["Points", *[labels.get(a["name"], a["name"]) for a in axes], "Total points", "Probability of PTLF"]
    y = {name: len(rows) - i for i, name in enumerate(rows)}
    fig = go.Figure()

    def scale(row: str, xs, texts, colour_: str = "#333") -> None:
        xs = list(map(float, xs))
        texts = _thin_labels(xs, list(texts))
        fig.add_trace(go.Scatter(x=[min(xs), max(xs)], y=[y[row]] * 2, mode="lines", line=dict(color=colour_, width=2),
                                 hoverinfo="skip", showlegend=False))
        fig.add_trace(go.Scatter(x=xs, y=[y[row]] * len(xs), mode="markers+text", text=list(texts),
                                 textposition="top center", textfont=dict(size=11), hoverinfo="skip",
                                 marker=dict(symbol="line-ns-open", size=10, color=colour_, line=dict(width=2)),
                                 showlegend=False))

    scale("Points", range(0, 101, 10), [str(t) for t in range(0, 101, 10)])
    for axis in axes:
        scale(labels.get(axis["name"], axis["name"]), axis["points"], [_fmt_tick(v) for v in axis["values"]])
    totals = list(spec.get("total_points_scale") or nice_ticks_fallback(total_max))
    scale("Total points", [t * to_x for t in totals], [_fmt_tick(round(t, 1)) for t in totals])
    probs = list(spec.get("probability_scale") or [])
    if probs:
        scale("Probability of PTLF", [p["total_points"] * to_x for p in probs],
              [f"{p['probability']:g}" for p in probs])

    if patient:
        red = "#d62728"
        xs, ys, texts = [], [], []
        for axis in axes:
            pts = float(patient[axis["name"]])
            xs.append(pts)
            ys.append(y[labels.get(axis["name"], axis["name"])])
            texts.append(f"{pts:.1f} points")
            fig.add_shape(type="line", x0=pts, x1=pts, y0=ys[-1], y1=y["Points"], line=dict(color=red, dash="dot",
                                                                                            width=1))
        total = float(patient["total_points"])
        xs += [total * to_x, total * to_x]
        ys += [y["Total points"], y["Probability of PTLF"]]
        texts += [f"total {total:.1f} points", f"risk {float(patient['probability']):.3f}"]
        fig.add_shape(type="line", x0=total * to_x, x1=total * to_x, y0=y["Probability of PTLF"], y1=y["Total points"],
                      line=dict(color=red, dash="dot", width=1))
        fig.add_trace(go.Scatter(x=xs, y=ys, mode="markers", marker=dict(color=red, size=12, symbol="diamond"),
                                 text=texts, hovertemplate="%{text}<extra></extra>", showlegend=False))
    fig.update_yaxes(tickvals=list(y.values()), ticktext=list(y.keys()), range=[0.4, len(rows) + 0.7],
                     showgrid=False, zeroline=False)
    fig.update_xaxes(visible=False, range=[-4, 106])
    return _layout(fig, title, height=90 + 62 * len(rows), margin=dict(l=170, r=30, t=50 if title else 20, b=20))


def _thin_labels(xs: list[float], texts: list[str], min_gap: float = 4.0) -> list[str]:
    """Blank the labels of ticks closer than ``min_gap`` points to the last labelled one (ends kept first)."""
    order = sorted(range(len(xs)), key=lambda i: xs[i])
    keep: list[int] = []
    for i in order:
        width = min_gap * max(1, len(texts[i]) / 3)
        if not keep or abs(xs[i] - xs[keep[-1]]) >= width:
            keep.append(i)
    if order and order[-1] not in keep and len(keep) > 1:  # prefer the upper end over its neighbour
        keep[-1] = order[-1]
    return [t if i in keep else "" for i, t in enumerate(texts)]


def nice_ticks_fallback(high: float) -> list[float]:
    step = 10 ** math.floor(math.log10(max(high, 1e-9) / 5))
    return [float(t) for t in np.arange(0, high + step / 2, step)]


# --------------------------------------------------------------------------- harmonisation
def harmonisation(before: pd.DataFrame, after: pd.DataFrame, centre: Sequence, features: Sequence[str],
                  title: str | None = None) -> go.Figure:
    """Box plots of ``features`` (e.g. ``core.stats.combat.most_shifted``) by centre, one row per
    feature, before (left) and after (right) harmonisation on a shared axis.

    before, after: the same patients' features (patients x features); centre: each patient's centre.
    """
    from plotly.subplots import make_subplots

    features = list(features)
    if not features or not before.index.equals(after.index):
        raise ValueError("harmonisation plot: give one or more features, and before and after for the same "
                         "patients in the same order")
    centres = pd.Series(np.asarray(centre, dtype=object), index=before.index).astype(str)
    names = sorted(centres.unique())
    fig = make_subplots(rows=len(features), cols=2, shared_yaxes="rows", horizontal_spacing=0.05,
                        vertical_spacing=min(0.08, 0.5 / len(features)),
                        subplot_titles=[f"{f}: {when}" for f in features for when in ("before", "after")])
    for row, feature in enumerate(features, start=1):
        for col, frame in enumerate((before, after), start=1):
            for i, name in enumerate(names):
                inside = (centres == name).to_numpy()
                fig.add_trace(go.Box(y=frame.loc[inside, feature], name=name, legendgroup=name,
                                     showlegend=row == 1 and col == 1, marker_color=_EXTRA[i % len(_EXTRA)],
                                     boxpoints="all", jitter=0.3, pointpos=0, marker=dict(size=3)),
                              row=row, col=col)
    fig.update_annotations(font=dict(size=12))
    return _layout(fig, title, height=120 + 200 * len(features), legend_title_text="Centre",
                   margin=dict(l=60, r=20, t=80 if title else 40, b=40))


# ------------------------------------------------------------------------ feature robustness
def icc_distribution(table: pd.DataFrame, threshold: float = 0.75, title: str | None = None) -> go.Figure:
    """Box plots of the per-feature ICC by image type, one colour per region, a dashed line at ``threshold``.

    ``table``: :func:`core.radiomics.robustness.feature_icc`'s rows (index feature; columns
    region, image_type, icc, kind); features without an ICC are left out.
    """
    shown = table[table["icc"].notna()]
    order = list(dict.fromkeys(shown["image_type"]))
    fig = go.Figure()
    for i, (region, rows) in enumerate(shown.groupby("region", sort=True)):
        fig.add_trace(go.Box(x=rows["image_type"], y=rows["icc"], name=region, text=list(rows.index),
                             marker_color=REGION_COLOURS.get(region, _EXTRA[i % len(_EXTRA)]), boxpoints="outliers",
                             hovertemplate="%{text}<br>ICC %{y:.3f}<extra>" + region + "</extra>"))
    fig.add_hline(y=threshold, line=dict(color="#555", dash="dash", width=1),
                  annotation_text=f"{threshold:g}", annotation_position="top left")
    kind = str(shown["kind"].iloc[0]) if len(shown) else "ICC"
    fig.update_xaxes(title="image type", categoryorder="array", categoryarray=order)
    low = min(0.0, float(shown["icc"].min())) if len(shown) else 0.0       # ICCs may be negative
    fig.update_yaxes(title=kind, range=[low - 0.05, 1.05])
    return _layout(fig, title, boxmode="group", legend=dict(title="region"))


def centre_forest(per_centre: pd.DataFrame, pooled: Mapping | None, metric: str, label: str,
                  reference: float | None = None, title: str | None = None) -> go.Figure:
    """Internal-external validation: one centre's estimate and CI per row (the centre left out),
    then the random-effects pooled estimate (diamond) with its CI and, dotted, the prediction
    interval for a new centre. ``per_centre``: centre, ``metric``, ``metric``_ci_low/_ci_high;
    ``pooled``: estimate, ci_low, ci_high, pi_low, pi_high (``core.multicentre``)."""
    rows = per_centre.dropna(subset=[metric])
    fig = go.Figure(go.Scatter(
        x=rows[metric], y=rows["centre"].astype(str), mode="markers", name="centre left out",
        marker=dict(size=10, symbol="square", color="#1f5f8b"),
        error_x=dict(type="data", symmetric=False, array=rows[f"{metric}_ci_high"] - rows[metric],
                     arrayminus=rows[metric] - rows[f"{metric}_ci_low"], thickness=2, width=6, color="#1f5f8b"),
        hovertemplate="%{y}: %{x:.3f}<extra></extra>"))
    if pooled:
        name = "pooled (random effects)"
        fig.add_trace(go.Scatter(x=[pooled["pi_low"], pooled["pi_high"]], y=[name, name], mode="lines",
                                 line=dict(color="#d62728", dash="dot", width=2), name="95% prediction interval"))
        fig.add_trace(go.Scatter(
            x=[pooled["estimate"]], y=[name], mode="markers", name="pooled estimate (95% CI)",
            marker=dict(size=15, symbol="diamond", color="#d62728"),
            error_x=dict(type="data", symmetric=False, array=[pooled["ci_high"] - pooled["estimate"]],
                         arrayminus=[pooled["estimate"] - pooled["ci_low"]], thickness=3, width=8, color="#d62728")))
    if reference is not None:
        fig.add_vline(x=reference, line=dict(color="#888", dash="dash"))
    fig.update_xaxes(title=label)
    fig.update_yaxes(categoryorder="array", categoryarray=[*rows["centre"].astype(str)[::-1], "pooled (random effects)"][::-1])
    return _layout(fig, title, height=max(240, 90 + 46 * (len(rows) + 1)),
                   legend=dict(orientation="h", x=0, y=-0.25, xanchor="left", yanchor="top"))
