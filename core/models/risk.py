"""One patient's risk from a bundle: clinical values plus the CT (or stored features).

Values are checked against the catalogue's plausible ranges (refused outside them) and the
training ranges (warned outside them). Features come from a stored patient, or are
extracted from the CT and mask with the bundle's own settings, after the CT and the mask
pass the checks ingest applies (``core.cohort.checks``); with no mask, a segmentation model
draws one first. A CI too wide to inform is said so, with the training cohort's size. A
recalibrated bundle (``core.models.recalibration``) carries the updated coefficients and
covariance, so its risk and CI are the recalibrated ones. Nothing about the patient is stored here.
"""
from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from core.models.bundle import Bundle, BundleError
from core.models.three import RADSCORE

UNINFORMATIVE_CI = 0.5  # a 95% CI wider than half the probability scale cannot tell low from high risk


@dataclass
class PatientRisk:
    """Combined-model risk with its CI, the nomogram points and the training context."""

    risk: float
    risk_low: float
    risk_high: float
    radscore: float
    points: dict[str, float]
    total_points: float
    training_percentile: float | None
    above_cutoff: bool
    cutoff: float
    values: dict[str, Any]
    features: dict[str, float]
    risks: dict[str, float] = field(default_factory=dict)   # every model's risk
    warnings: list[str] = field(default_factory=list)

    @property
    def summary(self) -> pd.DataFrame:
        """One row per predictor: value, points; then the totals."""
        rows = [{"predictor": name, "value": self.values.get(name, self.radscore if name == RADSCORE else None),
                 "points": pts} for name, pts in self.points.items()]
        rows.append({"predictor": "total points", "value": None, "points": self.total_points})
        return pd.DataFrame(rows)

    def to_dict(self) -> dict[str, Any]:
        return {"risk": self.risk, "risk_ci_low": self.risk_low, "risk_ci_high": self.risk_high,
                "radscore": self.radscore, "points": self.points, "total_points": self.total_points,
                "training_percentile": self.training_percentile, "cutoff": self.cutoff,
                "above_cutoff": self.above_cutoff, "risks": self.risks, "values": self.values,
                "features": self.features, "warnings": self.warnings}


def check_values(bundle: Bundle, values: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """Parse and check clinical values; ValueError lists every missing or implausible one."""
    problems, warnings, parsed = [], [], {}
    for p in bundle.predictors:
        name, raw = p["name"], values.get(p["name"])
        if raw is None or (isinstance(raw, str) and not raw.strip()) or (not isinstance(raw, str) and pd.isna(raw)):
            problems.append(f"{name}: missing; expected {_expected(p)}")
            continue
        if p["kind"] == "categorical":
            if str(raw) not in p["levels"]:
                problems.append(f"{name}: {raw!r} is not one of {p['levels']}")
            parsed[name] = str(raw)
            continue
        try:
            value = float(raw)
        except (TypeError, ValueError):
            problems.append(f"{name}: {raw!r} is not a number; expected {_expected(p)}")
            continue
        if not np.isfinite(value):
            problems.append(f"{name}: {raw!r} is not a finite number; expected {_expected(p)}")
            continue
        low, high = p.get("plausible_low"), p.get("plausible_high")
        if low is not None and not low <= value <= high:
            problems.append(f"{name}: {value:g} is implausible; allowed range {low:g} to {high:g} {p['unit']}".rstrip())
            continue
        if not p["train_min"] <= value <= p["train_max"]:
            warnings.append(f"{name} = {value:g} lies outside the training range {p['train_min']:g} to "
                            f"{p['train_max']:g}: the model extrapolates")
        parsed[name] = value
    if problems:
        raise ValueError("cannot compute the risk: " + "; ".join(problems))
    return parsed, warnings


def patient_risk(bundle: Bundle, values: dict[str, Any], *, features: pd.Series | dict | None = None,
                 image: str | Path | None = None, mask: str | Path | None = None,
                 segmentation_model: str | None = None, models_dir: str | Path | None = None) -> PatientRisk:
    """The combined model's risk for one patient; ``features`` (``region:feature`` -> value) or a CT."""
    parsed, warnings = check_values(bundle, values)
    if features is None:
        if image is None:
            raise ValueError("give the patient's CT (--image) or pick a stored patient with features")
        features = extract_features(bundle, image, mask, segmentation_model, models_dir)
    features = pd.Series(features, dtype=float)
    needed = [f["feature"] for f in bundle.content["radiomics_features"]]
    absent = [f for f in needed if pd.isna(features.get(f, np.nan))]
    if absent:
        raise ValueError(f"features missing for the Radscore: {', '.join(absent)}")
    models = bundle.models
    clinical = pd.DataFrame([parsed], index=pd.Index(["patient"], name="patient_id"))
    feats = pd.DataFrame([features[needed]], index=clinical.index)
    data = clinical.assign(**{RADSCORE: models.selector_.radscore(feats)})
    interval = models.models_["combined"].predict_interval(data).iloc[0]
    risks = models.predict(clinical, feats).iloc[0]
    points = models.nomogram_.points({**parsed, RADSCORE: float(data[RADSCORE].iloc[0])})
    quantiles = bundle.content["training"].get("combined_risk_quantiles") or {}
    cutoff = float(bundle.content["cutoffs"]["combined"])
    warnings += _ci_warning(float(interval["risk_low"]), float(interval["risk_high"]), bundle)
    return PatientRisk(
        risk=float(interval["risk"]), risk_low=float(interval["risk_low"]), risk_high=float(interval["risk_high"]),
        radscore=float(data[RADSCORE].iloc[0]),
        points={k: float(v) for k, v in points.items() if k not in ("total_points", "linear_predictor", "probability")},
        total_points=float(points["total_points"]),
        training_percentile=_percentile(float(interval["risk"]), quantiles),
        above_cutoff=float(interval["risk"]) >= cutoff, cutoff=cutoff, values=parsed,
        features={f: float(features[f]) for f in needed},
        risks={k: float(risks[k]) for k in ("clinical", "radiomics", "combined")}, warnings=warnings)


def extract_features(bundle: Bundle, image: str | Path, mask: str | Path | None,
                     segmentation_model: str | None, models_dir: str | Path | None = None) -> pd.Series:
    """The patient's features with the bundle's settings; segments first when there is no mask.

    The CT and the mask are read through ``core.cohort.checks`` (ImageReadError, a
    ValueError, names the file and every problem), as ingest reads them.
    """
    from core.cohort.checks import read_ct, read_mask
    from core.cohort.images import write_nifti
    from core.radiomics.extract import extract_case

    preset = bundle.preset()
    ct = read_ct(image)
    with tempfile.TemporaryDirectory(prefix="risk-") as work:
        if mask is None:
            model = segmentation_model or bundle.content["extraction"].get("segmentation_model")
            if not model:
                raise BundleError("no mask given and the bundle names no segmentation model: "
                                  "give --mask or --segmentation-model")
            ct_file = Path(work) / "ct.nii.gz"
            write_nifti(ct, ct_file)
            mask = _segment(ct_file, model, Path(work), models_dir)
        long = extract_case(ct, read_mask(mask, ct), preset, case_id="patient")
    return pd.Series(long["value"].to_numpy(), index=long["region"] + ":" + long["feature"])


def _segment(image: str | Path, model: str, work: Path, models_dir: str | Path | None) -> Path:
    from core.segmentation.models import DEFAULT_MODELS_DIR, find_model
    from core.segmentation.predict import load_predictor, predict_cases

    predictor = load_predictor(find_model(models_dir or DEFAULT_MODELS_DIR, model).path)
    out = work / "mask.nii.gz"
    for result in predict_cases(predictor, [("patient", str(image), str(out))]):
        if result.error:
            raise ValueError(f"segmentation of the CT failed: {result.error}")
    return out


def _ci_warning(low: float, high: float, bundle: Bundle) -> list[str]:
    """A warning when the 95% CI is wider than ``UNINFORMATIVE_CI``, naming the training cohort's size."""
    if high - low <= UNINFORMATIVE_CI:
        return []
    training = bundle.content["training"]
    n, events = training.get("n"), training.get("events")
    coefficients = len(bundle.models.models_["combined"].coef_)
    if n is None or events is None:
        reason = "the bundle does not state its training cohort's size"
    else:
        epv = events / coefficients
        reason = (f"the model was fitted on {n} patients with {events} events, {epv:.1f} events per coefficient "
                  f"({coefficients}); " + ("fewer than about 10 give unstable coefficients" if epv < 10 else
                                           "enough for stable coefficients, so this patient's values lie far from "
                                           "the training patients'"))
    return [f"the 95% CI {100 * low:.1f}-{100 * high:.1f}% is uninformative (it spans "
            f"{100 * (high - low):.0f} percentage points): {reason}; do not read this risk as a prediction"]


def _percentile(risk: float, quantiles: dict[str, float]) -> float | None:
    """Where ``risk`` lies among the training patients' risks (0-100), from stored quantiles."""
    if not quantiles:
        return None
    qs = np.array([float(q) for q in quantiles]) * 100
    values = np.array(list(quantiles.values()))
    return float(np.interp(risk, values, qs))


def _expected(p: dict) -> str:
    if p["kind"] == "categorical":
        return f"one of {p['levels']}"
    if p.get("plausible_low") is not None:
        return f"a number from {p['plausible_low']:g} to {p['plausible_high']:g} {p['unit']}".rstrip()
    return "a number"
