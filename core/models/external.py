"""External validation of a bundle on a centre of another study.

The centre's features must come from the bundle's extraction settings (same settings
hash); anything else is refused with the differences named, unless the user overrides it
knowingly, which the result then states. Missing predictors are refused; values outside the
training ranges are listed per patient. The bundle's models are scored as they are; both
recalibrations of ``core.models.recalibration`` (intercept-only and logistic) are estimated
on the centre and shown beside them, never instead of them, with their calibration. Saving
one (``recalibrate_bundle``) writes a new bundle, registered in the study, that Patient risk
and later validations can use; only its coefficients ever leave the centre.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pandas as pd
from scipy.special import expit

from core.analysis import AnalysisParams, evaluate_cohort
from core.models.bundle import Bundle, BundleError, register_bundle
from core.models.recalibration import (METHODS, Update, check_choice, describe, estimate_updates, imprecision,
                                       linear_predictors, recalibrated_bundle, usable)
from core.models.three import MODEL_NAMES
from core.stats._json import jsonable


def choose_features(study, bundle: Bundle, center: str, mask_source: str | None = None,
                    allow_other_settings: bool = False) -> tuple[str, str, str | None]:
    """(mask_source, settings_hash, override note) of the centre's features to validate on."""
    sets = study.feature_sets(center)
    if mask_source is not None:
        sets = sets[sets["mask_source"] == mask_source]
    if sets.empty:
        raise BundleError(f"centre {center!r} has no radiomics features"
                          + (f" from mask source {mask_source!r}" if mask_source else "")
                          + ": extract them with the bundle's settings first (`python -m core bundle preset` "
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


@dataclass(frozen=True)
class Scored:
    """A centre scored by a bundle's models. y: outcome by patient_id; lps: the radscore and each
    model's linear predictor (columns radscore, *MODEL_NAMES; NaN where unscored); notes: what was
    not scored and why; override: the settings override's statement, or None."""

    center: str
    clinical: pd.DataFrame
    features: pd.DataFrame
    y: pd.Series
    lps: pd.DataFrame
    mask_source: str
    settings_hash: str
    override: str | None
    notes: list[str]

    @property
    def predictions(self) -> pd.DataFrame:
        """The radscore and each model's risk per patient (as ``ThreeModels.predict``)."""
        return self.lps.assign(**{name: expit(self.lps[name]) for name in MODEL_NAMES})


def score_centre(study, bundle: Bundle, center: str, mask_source: str | None = None,
                 allow_other_settings: bool = False) -> Scored:
    """The bundle's models applied to ``center``'s stored clinical values and features."""
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
    return Scored(center, clinical, features, clinical["ptlf"], linear_predictors(bundle, clinical, features),
                  mask_source, settings_hash, override, unseen)


def validate_bundle(study, bundle: Bundle, center: str, *, mask_source: str | None = None,
                    allow_other_settings: bool = False, **params: Any) -> dict[str, Any]:
    """Score the bundle's models on ``center`` of ``study``; JSON-able result with analyze's metric keys,
    the bundle's signer and recalibration, and both recalibrations estimated on this centre."""
    params_obj = AnalysisParams(**{"bootstrap": 0, **params})
    scored = score_centre(study, bundle, center, mask_source, allow_other_settings)
    y, predictions, clinical = scored.y, scored.predictions, scored.clinical
    evaluation = evaluate_cohort(y, predictions, bundle.content["cutoffs"], params_obj)
    warnings = [f"{center}: {w}" for w in evaluation["notes"]]
    warnings += scored.notes
    if scored.override:
        warnings.insert(0, scored.override)
    if versions := bundle.version_warning():
        warnings.append(versions)
    provenance = bundle.provenance()
    if not provenance.ok:
        warnings.insert(0, f"bundle {bundle.bundle_id}: {provenance.problem()} (accepted explicitly)")
    recalibration = {method: _recalibration(scored, bundle, method, params_obj) for method in METHODS}
    return jsonable({
        "kind": "external validation",
        "created_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "bundle": {"bundle_id": bundle.bundle_id, "sha256": bundle.sha256,
                   "analysis_id": bundle.content["analysis_id"], "training": bundle.content["training"],
                   "radscore_formula": bundle.content["radscore_formula"],
                   "predictors": bundle.predictors, "cutoffs": bundle.content["cutoffs"],
                   "provenance": provenance.to_dict(), "recalibration": bundle.content.get("recalibration"),
                   "recalibration_text": describe(bundle.content.get("recalibration"))},
        "center": center, "study": study.path.name, "mask_source": scored.mask_source,
        "settings_hash": scored.settings_hash, "settings_override": scored.override,
        "cohorts": {center: {"n_patients": len(clinical), "n_with_outcome": int(y.notna().sum()),
                             "n_events": int((y == 1).sum()),
                             "n_with_features": int(clinical.index.isin(scored.features.index).sum())}},
        "models": {name: {"metrics": {center: evaluation["metrics"][name]}} for name in MODEL_NAMES},
        "comparisons": {center: evaluation["comparisons"]},
        "curves": {center: evaluation["curves"]},
        "recalibration": recalibration,
        "predictions": {center: pd.concat([y, predictions], axis=1).reset_index()},
        "range_warnings": range_warnings(bundle, clinical),
        "warnings": warnings,
    })


def _recalibration(scored: Scored, bundle: Bundle, method: str, params: AnalysisParams) -> dict[str, Any]:
    """One method's updates on this centre and the recalibrated models' metrics and calibration curves
    (apparent: estimated and evaluated on the same patients)."""
    updates = estimate_updates(scored.y, scored.lps, method)
    fitted = {name: u for name, u in updates.items() if isinstance(u, Update)}
    recal = scored.predictions.copy()
    for name, update in fitted.items():
        recal[name] = expit(update.apply(scored.lps[name]))
    cutoffs = {name: float(u.risk(bundle.content["cutoffs"][name])) for name, u in fitted.items()}
    evaluation = evaluate_cohort(scored.y, recal[list(fitted)], cutoffs, params, fitted_here=True)
    center = scored.center

    def row(name: str, update: Update | str) -> dict[str, Any]:
        why_not = usable(name, update, center)
        estimates = ({**update.to_dict(params.level), "metrics": evaluation["metrics"][name]}
                     if isinstance(update, Update) else {"note": update})
        return {**estimates, "saveable": why_not is None, "why_not": why_not}

    return {"description": METHODS[method], "models": {name: row(name, u) for name, u in updates.items()},
            "curves": {"calibration": evaluation["curves"]["calibration"]},
            "warnings": [w for name, u in fitted.items() if (w := imprecision(u, name, center))]}


def recalibrate_bundle(study, bundle: Bundle, center: str, method: str, *, models: tuple[str, ...] = MODEL_NAMES,
                       mask_source: str | None = None, allow_other_settings: bool = False,
                       out: str | Path | None = None) -> Bundle:
    """Recalibrate ``models`` of ``bundle`` on ``center`` by ``method``; the new bundle, signed by this
    installation, is registered in ``study`` (and written to ``out``), and the step audited.

    ValueError for an unknown method or model; BundleError naming each chosen model that cannot be
    recalibrated (one outcome class, separation, a slope not above 0): nothing is written then."""
    check_choice(list(models), method)
    scored = score_centre(study, bundle, center, mask_source, allow_other_settings)
    updates = estimate_updates(scored.y, scored.lps[list(models)], method)
    refused = [why for name, u in updates.items() if (why := usable(name, u, center))]
    if refused:
        raise BundleError("; ".join(refused) + "; nothing was saved")
    new = recalibrated_bundle(bundle, updates, center).signed()
    if out is not None:
        new.save(out)
    register_bundle(study, new, "recalibration")
    study.audit("recalibrate bundle", {
        "parent": bundle.bundle_id, "parent_sha256": bundle.sha256, "bundle": new.bundle_id, "sha256": new.sha256,
        "center": center, "method": method, "models": list(models), "settings_override": bool(scored.override),
        **{f"{name}_n": u.n for name, u in updates.items()}, **{f"{name}_events": u.events for name, u in updates.items()}})
    return new


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
