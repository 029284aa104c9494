"""Development on several centres: pooling them, and internal-external cross-validation.

``pooled_cohort`` stacks centres' (clinical, features) tables into one training cohort with each
patient's centre (ComBat's batch with ``harmonise``); patient ids that occur in more than one
centre are prefixed with the centre (``centre/patient``). ``internal_external`` leaves each
centre out in turn, develops the models on the others exactly as the analysis does (selection,
harmonisation, the three models) and validates them on the centre left out; the per-centre
AUC (pooled on the logit scale, delta-method variance from DeLong's), calibration slope and
calibration-in-the-large are pooled by random-effects meta-analysis (``core.stats.meta``),
with tau^2, I^2 and the prediction interval for a new centre (Steyerberg & Harrell 2016; Riley
et al. 2016). Pure: DataFrames in, results out.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Callable

import numpy as np
import pandas as pd
from scipy import stats

from core.analysis_params import AnalysisParams
from core.stats.meta import random_effects

MODELS = ("clinical", "radiomics", "combined")
METRICS = {"auc": "AUC", "calibration_slope": "Calibration slope", "calibration_intercept": "Calibration-in-the-large"}


def pooled_cohort(cohorts: dict[str, tuple[pd.DataFrame, pd.DataFrame]]
                  ) -> tuple[pd.DataFrame, pd.DataFrame, pd.Series]:
    """(clinical, features, centre by patient) of several centres stacked; the feature columns
    are those every centre has."""
    ids = pd.concat([pd.Series(clin.index) for clin, _ in cohorts.values()])
    clash = set(ids[ids.duplicated()])
    clinical, features, centres = [], [], []
    common = None
    for clin, feats in cohorts.values():
        common = feats.columns if common is None else common.intersection(feats.columns, sort=False)
    for name, (clin, feats) in cohorts.items():
        rename = {p: f"{name}/{p}" for p in clin.index.union(feats.index) if p in clash}
        clinical.append(clin.rename(index=rename))
        features.append(feats[common].rename(index=rename))
        centres.append(pd.Series(name, index=clinical[-1].index))
    clinical = pd.concat(clinical).rename_axis("patient_id")
    return clinical, pd.concat(features).rename_axis("patient_id"), pd.concat(centres).rename("centre")


@dataclass(frozen=True)
class InternalExternal:
    """per_centre: centre, model, n, n_events, auc (+ CI), calibration_slope, calibration_intercept
    (+ CIs); pooled: model, metric, random-effects estimate, CI, prediction interval, tau2, i2
    (the AUC pooled on the logit scale and transformed back); notes."""

    per_centre: pd.DataFrame
    pooled: pd.DataFrame
    notes: list[str]

    def to_dict(self) -> dict:
        return {"per_centre": self.per_centre, "pooled": self.pooled, "notes": self.notes}


def internal_external(cohorts: dict[str, tuple[pd.DataFrame, pd.DataFrame]], params: AnalysisParams, *,
                      progress: Callable[[int, int], None] | None = None) -> InternalExternal:
    """Leave each centre out, develop on the rest, validate on it; pool the centres' results."""
    from core.analysis import run_analysis

    if len(cohorts) < 3:
        raise ValueError(f"internal-external validation needs three or more centres, got {list(cohorts)}")
    fold = replace(params, bootstrap=0, dca_bootstrap=0)      # each development is only scored elsewhere
    rows, notes = [], []
    for i, left in enumerate(cohorts):
        others = {c: v for c, v in cohorts.items() if c != left}
        clinical, features, centres = pooled_cohort(others)
        try:
            result = run_analysis(clinical, features, {left: cohorts[left]}, train_name="+".join(others),
                                  train_centres=centres, params=fold)
        except ValueError as exc:
            notes.append(f"without {left}: {exc}")
            continue
        metrics = result.metrics[result.metrics["centre"] == left]
        for _, m in metrics.iterrows():
            rows.append({"centre": left, **m.drop(["centre"]).to_dict()})
        notes += [f"without {left}: {w}" for w in result.warnings if "harmonisation" in w or "not fitted" in w]
        if progress is not None:
            progress(i + 1, len(cohorts))
    per_centre = pd.DataFrame(rows)
    return InternalExternal(per_centre, _pooled(per_centre, params.level), notes)


def _pooled(per_centre: pd.DataFrame, level: float) -> pd.DataFrame:
    rows = []
    z = stats.norm.ppf(0.5 + level / 2)
    for model in MODELS:
        part = per_centre[per_centre["model"] == model] if len(per_centre) else per_centre
        for metric in METRICS:
            if metric not in part or part[metric].notna().sum() < 2:
                continue
            ok = part[metric].notna()
            if metric == "auc":                       # logit scale, delta method: var(logit a) = var(a) / (a (1 - a))^2
                a = part.loc[ok, "auc"].clip(1e-6, 1 - 1e-6)
                yi, vi = np.log(a / (1 - a)), part.loc[ok, "auc_var"] / (a * (1 - a)) ** 2
            else:
                yi = part.loc[ok, metric]
                vi = ((part.loc[ok, f"{metric}_ci_high"] - part.loc[ok, f"{metric}_ci_low"]) / (2 * z)) ** 2
            keep = np.isfinite(vi) & (vi > 0)
            if keep.sum() < 2:
                continue
            fit = random_effects(yi[keep], vi[keep], level=level).to_dict()
            if metric == "auc":
                fit.update({k: float(1 / (1 + np.exp(-fit[k]))) for k in
                            ("estimate", "ci_low", "ci_high", "pi_low", "pi_high")})
            rows.append({"model": model, "metric": metric, **fit})
    return pd.DataFrame(rows)
