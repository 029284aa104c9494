"""External validation of a bundle on a centre of another study.

The centre's features must come from the bundle's extraction settings (same settings
hash); anything else is refused with the differences named, unless the user overrides it
knowingly, which the result then states. Missing predictors are refused; values outside the
training ranges are listed per patient. The bundle's models are scored as they are; a
logistic recalibration (intercept and slope on the log-odds) is shown beside them, never
instead of them.
"""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

import numpy as np
import pandas as pd
import statsmodels.api as sm
from scipy.special import expit, logit

from core.analysis import AnalysisParams, evaluate_cohort
from core.models.bundle import Bundle, BundleError
from core.models.three import MODEL_NAMES
from core.stats._json import jsonable
from core.stats.calibration import calibration_metrics


def choose_features(study, bundle: Bundle, center: str, mask_source: str | None = None,
                    allow_other_settings: bool = False) -> tuple[str, str, str | None]:
    """(mask_source, settings_hash, override note) of the centre's features to validate on."""
    sets = study.feature_sets(center)
    if mask_source is not None:
        sets = sets[sets["mask_source"] == mask_source]
    if sets.empty:
        raise BundleError(f"centre {center!r} has no radiomics features"
                          + (f" from mask source {mask_source!r}" if mask_source else "")
                          + f": extract them with the bundle's settings first (`python -m core bundle preset` "
                            "writes them as a preset file for `python -m core extract --preset`)")
    same = sets[sets["settings_hash"] == bundle.settings_hash]
    if len(same):
        preferred = bundle.content["extraction"]["mask_source"]
        row = max(same.itertuples(), key=lambda r: (r.mask_source == preferred, r.mask_source == "manual", r.patients))
        return row.mask_source, row.settings_hash, None
    row = max(sets.itertuples(), key=lambda r: r.patients)
    differences = settings_difference(bundle.content["extraction"]["settings"], study.settings(row.settings_hash))
    text = (f"centre {center!r} has features extracted with other settings than the bundle's "
            f"(bundle {bundle.settings_hash[:12]}, centre {row.settings_hash[:12]}): {differences}")
    if not allow_other_settings:
        raise BundleError(text + "; re-extract with the bundle's settings, or override knowingly")
    return row.mask_source, row.settings_hash, "OVERRIDE: " + text


def settings_difference(a: dict, b: dict, limit: int = 8) -> str:
    """Readable differences between two extraction-settings dicts (bundle first)."""
    diffs: list[str] = []

    def walk(x, y, path):
        if isinstance(x, dict) and isinstance(y, dict):
            for k in sorted(set(x) | set(y), key=str):
                walk(x.get(k), y.get(k), f"{path}.{k}" if path else str(k))
        elif x != y:
            diffs.append(f"{path}: bundle {x!r}, centre {y!r}")
    walk(a, b, "")
    if not diffs:
        return "no recorded difference (settings of the centre are unknown)"
    return "; ".join(diffs[:limit]) + (f"; and {len(diffs) - limit} more" if len(diffs) > limit else "")


def validate_bundle(study, bundle: Bundle, center: str, *, mask_source: str | None = None,
                    allow_other_settings: bool = False, **params: Any) -> dict[str, Any]:
    """Score the bundle's models on ``center`` of ``study``; JSON-able result with analyze's metric keys."""
    params_obj = AnalysisParams(**{"bootstrap": 0, **params})
    study.role(center)
    clinical = study.clinical(center)
    missing = [f"{p['name']} ({p['label']})" for p in bundle.predictors if p["name"] not in clinical.columns]
    if missing:
        raise BundleError(f"centre {center!r} lacks the clinical predictor(s) {', '.join(missing)} "
                          f"that the bundle's models need")
    mask_source, settings_hash, override = choose_features(study, bundle, center, mask_source, allow_other_settings)
    features = study.features_wide(center, mask_source, settings_hash)
    needed = [f["feature"] for f in bundle.content["radiomics_features"]]
    absent = [f for f in needed if f not in features.columns]
    if absent:
        raise BundleError(f"centre {center!r}: features {', '.join(absent)} of the Radscore are missing")
    clinical, unseen = _blank_unseen_levels(bundle, clinical)
    predictions = bundle.models.predict(clinical, features)
    y = clinical["ptlf"]
    evaluation = evaluate_cohort(y, predictions, bundle.content["cutoffs"], params_obj)
    warnings = [f"{center}: {w}" for w in evaluation["notes"]]
    warnings += unseen
    if override:
        warnings.insert(0, override)
    recalibration = {name: _recalibrate(y, predictions[name]) for name in MODEL_NAMES}
    return jsonable({
        "kind": "external validation",
        "created_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "bundle": {"bundle_id": bundle.bundle_id, "sha256": bundle.sha256,
                   "analysis_id": bundle.content["analysis_id"], "training": bundle.content["training"],
                   "radscore_formula": bundle.content["radscore_formula"],
                   "predictors": bundle.predictors, "cutoffs": bundle.content["cutoffs"]},
        "center": center, "study": study.path.name, "mask_source": mask_source, "settings_hash": settings_hash,
        "settings_override": override,
        "cohorts": {center: {"n_patients": len(clinical), "n_with_outcome": int(y.notna().sum()),
                             "n_events": int((y == 1).sum()),
                             "n_with_features": int(clinical.index.isin(features.index).sum())}},
        "models": {name: {"metrics": {center: evaluation["metrics"][name]},
                          "recalibrated": recalibration[name]} for name in MODEL_NAMES},
        "comparisons": {center: evaluation["comparisons"]},
        "curves": {center: evaluation["curves"]},
        "predictions": {center: pd.concat([y, predictions], axis=1).reset_index()},
        "range_warnings": range_warnings(bundle, clinical),
        "warnings": warnings,
    })


def _blank_unseen_levels(bundle: Bundle, clinical: pd.DataFrame) -> tuple[pd.DataFrame, list[str]]:
    """Categorical values the models never saw become missing (those patients are not scored)."""
    notes = []
    clinical = clinical.copy()
    for p in bundle.predictors:
        if p["kind"] != "categorical":
            continue
        values = clinical[p["name"]].astype("string")
        unseen = values.notna() & ~values.isin(p["levels"])
        if unseen.any():
            clinical.loc[unseen, p["name"]] = None
            notes.append(f"{int(unseen.sum())} patient(s) with {p['name']} values unseen in training "
                         f"({', '.join(sorted(set(values[unseen])))}; training levels {p['levels']}) were not scored")
    return clinical, notes


def range_warnings(bundle: Bundle, clinical: pd.DataFrame) -> list[dict[str, Any]]:
    """One row per patient and numeric predictor outside the bundle's training range."""
    rows = []
    for p in bundle.predictors:
        if p["kind"] != "numeric":
            continue
        values = pd.to_numeric(clinical[p["name"]], errors="coerce")
        outside = values[(values < p["train_min"]) | (values > p["train_max"])]
        rows += [{"patient_id": pid, "predictor": p["name"], "value": float(v), "train_min": p["train_min"],
                  "train_max": p["train_max"]} for pid, v in outside.items()]
    return rows


def _recalibrate(y: pd.Series, risk: pd.Series) -> dict[str, Any]:
    """Logistic recalibration on this cohort: new risk = expit(a + b * logit(risk))."""
    ok = y.notna() & risk.notna()
    yy, rr = y[ok].to_numpy(int), np.clip(risk[ok].to_numpy(float), 1e-12, 1 - 1e-12)
    if len(yy) < 10 or yy.min() == yy.max():
        return {"note": "too few patients or one outcome class: not recalibrated"}
    fit = sm.GLM(yy, sm.add_constant(logit(rr)), family=sm.families.Binomial()).fit()
    a, b = (float(v) for v in fit.params)
    recal = expit(a + b * logit(rr))
    return {"intercept": a, "slope": b, "brier": float(np.mean((recal - yy) ** 2)),
            "calibration": calibration_metrics(yy, recal)}
