"""Recalibration of a bundle's models for a validating centre, saved as a new bundle.

Two updates of a model's linear predictor lp (log-odds), estimated by maximum likelihood on the
centre's own patients (Steyerberg, Clinical Prediction Models, 2nd ed., ch. 20):

- intercept: the intercept-only update, logistic ``y ~ 1 + offset(lp)``; new lp = a + lp;
- logistic: logistic recalibration, ``y ~ 1 + lp``; new lp = a + b * lp.

Applied to a model, the update gives new coefficients (intercept a + b * beta0, the others
b * beta) and, by the delta method with the training and the centre's estimates independent,
the covariance b^2 * Sigma + Var(a) e1 e1' + Cov(a, b) (e1 beta' + beta e1') + Var(b) beta beta'
(beta with the intercept first, e1 the intercept's unit vector), so that prediction intervals
carry both. Cut-offs and the training risk quantiles pass through the same increasing map, so a
patient stays on the same side of a cut-off and at the same training percentile. Each chosen
model is recalibrated on its own linear predictor; the Radscore formula is not changed. The new
bundle records its parent's checksum and signer, the centre, method, n and events; it holds
coefficients only, never the centre's patients or outcomes.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats
from scipy.special import expit, logit

from core.models.bundle import Bundle, BundleError
from core.models.three import MODEL_NAMES, RADSCORE
from core.stats.logistic import INTERCEPT, logistic_newton
from core.stats.nomogram import Nomogram

METHODS = {"intercept": "intercept-only update: y ~ 1 + offset(lp), new lp = a + lp",
           "logistic": "logistic recalibration: y ~ 1 + lp, new lp = a + b * lp"}
FEW_EVENTS = 10  # fewer events (or non-events) than this: the update is imprecise, said so


@dataclass(frozen=True)
class Update:
    """One model's recalibration: new lp = intercept + slope * lp.

    cov: (2, 2) covariance of (intercept, slope); the slope's row and column are 0 for the
    intercept-only update (its slope is fixed at 1). n, events: the patients it was estimated on.
    """

    method: str
    intercept: float
    slope: float
    cov: np.ndarray
    n: int
    events: int

    @classmethod
    def estimate(cls, y, lp, method: str) -> "Update":
        """ML estimate from outcomes ``y`` (n,) 0/1 and linear predictors ``lp`` (n,) (pairs with a NaN
        dropped); ValueError when one outcome class is left or the fit diverges (separation)."""
        if method not in METHODS:
            raise ValueError(f"recalibration method must be one of {list(METHODS)}, got {method!r}")
        y, lp = np.asarray(y, dtype=float), np.asarray(lp, dtype=float)
        ok = np.isfinite(y) & np.isfinite(lp)
        y, lp = y[ok], lp[ok]
        events = int(y.sum())
        if events in (0, len(y)):
            raise ValueError(f"{len(y)} scored patient(s) with {events} event(s): a recalibration needs patients "
                             "with and without the event")
        ones = np.ones((len(y), 1))
        if method == "intercept":
            coef, cov = logistic_newton(ones, y, offset=lp)
            coef, cov = np.r_[coef, 1.0], np.pad(cov, ((0, 1), (0, 1)))
        else:
            coef, cov = logistic_newton(np.column_stack([ones, lp]), y)
        if not np.isfinite(coef).all():
            raise ValueError(f"the {method} recalibration did not converge on {len(y)} patients with {events} "
                             "event(s): the risks separate the outcomes")
        return cls(method, float(coef[0]), float(coef[1]), cov, len(y), events)

    def apply(self, lp):
        """The recalibrated linear predictor."""
        return self.intercept + self.slope * lp

    def risk(self, risk):
        """A risk (or cut-off) passed through the update: expit(a + b * logit(risk))."""
        return expit(self.apply(logit(np.clip(risk, 1e-12, 1 - 1e-12))))

    def to_dict(self, level: float = 0.95) -> dict[str, Any]:
        z = float(stats.norm.ppf(0.5 + level / 2))
        out = {"method": self.method, "n": self.n, "events": self.events, "cov": self.cov.tolist()}
        for i, key in enumerate(("intercept", "slope")):
            value, se = (self.intercept, self.slope)[i], float(np.sqrt(self.cov[i, i]))
            out.update({key: value, f"{key}_se": se, f"{key}_ci_low": value - z * se, f"{key}_ci_high": value + z * se})
        return out

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "Update":
        return cls(d["method"], float(d["intercept"]), float(d["slope"]), np.array(d["cov"], dtype=float),
                   int(d["n"]), int(d["events"]))


def linear_predictors(bundle: Bundle, clinical: pd.DataFrame, features: pd.DataFrame) -> pd.DataFrame:
    """Per patient of ``clinical``: the radscore and each model's linear predictor (columns RADSCORE,
    *MODEL_NAMES; NaN where a value or the patient's features are missing)."""
    models = bundle.models
    data = clinical.assign(**{RADSCORE: models.selector_.radscore(features.reindex(clinical.index), missing="nan")})
    return pd.DataFrame({RADSCORE: data[RADSCORE], **{
        name: models.models_[name].linear_predictor(data, missing="nan") for name in MODEL_NAMES}},
        index=clinical.index)


def estimate_updates(y: pd.Series, lps: pd.DataFrame, method: str) -> dict[str, Update | str]:
    """Per model (the columns of ``lps`` among MODEL_NAMES): its Update on its scored patients, or
    why none could be estimated."""
    out: dict[str, Update | str] = {}
    for name in (c for c in lps.columns if c in MODEL_NAMES):
        try:
            out[name] = Update.estimate(y, lps[name], method)
        except ValueError as exc:
            out[name] = str(exc)
    return out


def check_choice(models: list[str], method: str) -> None:
    """ValueError unless ``models`` names at least one model, all known, and ``method`` is a method."""
    if method not in METHODS:
        raise ValueError(f"recalibration method must be one of {list(METHODS)}, got {method!r}")
    if not models:
        raise ValueError("choose at least one model to recalibrate")
    unknown = [name for name in models if name not in MODEL_NAMES]
    if unknown:
        raise ValueError(f"unknown model(s) {unknown}; the models are {list(MODEL_NAMES)}")


def usable(name: str, update: Update | str, centre: str) -> str | None:
    """Why ``update`` of model ``name`` cannot be saved, or None when it can."""
    if isinstance(update, str):
        return f"the {name} model cannot be recalibrated on centre {centre!r}: {update}"
    if update.slope <= 0:
        return (f"the {name} model's recalibration slope on centre {centre!r} is {update.slope:.3f} (not above 0): "
                "the model ranks this centre's patients the wrong way round, and no recalibration repairs that; "
                "leave the model out, or use the intercept-only update")
    return None


def imprecision(update: Update, name: str, centre: str) -> str | None:
    """A warning when the update rests on few events or non-events, else None."""
    smaller = min(update.events, update.n - update.events)
    if smaller >= FEW_EVENTS:
        return None
    return (f"{name} model: the recalibration on centre {centre!r} rests on {update.events} events and "
            f"{update.n - update.events} without among {update.n} patients (fewer than {FEW_EVENTS} in the smaller "
            "class): its estimates are imprecise, see their CIs")


def recalibrated_bundle(parent: Bundle, updates: dict[str, Update], centre: str) -> Bundle:
    """A new (unsigned) bundle: ``parent`` with each model of ``updates`` recalibrated, and the record
    of what was done (``content['recalibration']``: method, centre, n and events (of the model
    scored on most patients; each model's own under ``models``), the parent's checksum and signer)."""
    check_choice(list(updates), next(iter(updates.values())).method if updates else "logistic")
    methods = sorted({u.method for u in updates.values()})
    if len(methods) != 1:
        raise ValueError(f"one recalibration method per bundle, got {methods}")
    content = copy.deepcopy(parent.content)
    models = content["models"]
    level = 0.95
    for name, update in updates.items():
        model = models["models"][name]
        level = float(model["params"].get("level", 0.95))
        models["models"][name] = _recalibrated_model(model, update)
        models["cutoffs"][name] = content["cutoffs"][name] = float(update.risk(content["cutoffs"][name]))
    if "combined" in updates:
        update = updates["combined"]
        nomogram = _recalibrated_nomogram(content["nomogram"], update)
        content["nomogram"] = models["nomogram"] = nomogram
        quantiles = content["training"].get("combined_risk_quantiles") or {}
        content["training"]["combined_risk_quantiles"] = {q: float(update.risk(v)) for q, v in quantiles.items()}
    provenance = parent.provenance()
    now = datetime.now(timezone.utc).isoformat(timespec="seconds")
    content["created_at"] = now
    content["recalibration"] = {
        "method": methods[0], "description": METHODS[methods[0]], "centre": centre, "estimated_at": now,
        "n": max(u.n for u in updates.values()), "events": max(u.events for u in updates.values()),
        "models": {name: u.to_dict(level) for name, u in updates.items()},
        "not_recalibrated": [name for name in MODEL_NAMES if name not in updates],
        "parent_sha256": parent.sha256, "parent_bundle_id": parent.bundle_id,
        "parent_signature": None if parent.signature is None else {
            "status": provenance.status, "fingerprint": provenance.fingerprint,
            "public_key": parent.signature.get("public_key"), "signer": parent.signature.get("signer"),
            "signed_at": parent.signature.get("signed_at")},
        "previous": parent.content.get("recalibration"),
    }
    return Bundle(content)


def describe(recalibration: dict[str, Any] | None) -> str | None:
    """One sentence on a bundle's recalibration (None for a bundle as trained)."""
    if not recalibration:
        return None
    chosen = [name for name in MODEL_NAMES if name in recalibration["models"]]
    left = recalibration.get("not_recalibrated") or []
    return (f"recalibrated for centre {recalibration['centre']!r} ({recalibration['method']}: "
            f"{recalibration['description']}; {recalibration['n']} patients, {recalibration['events']} events): "
            f"{', '.join(chosen)} model(s), each on its own linear predictor"
            + (f"; {', '.join(left)} left as shared" if left else "")
            + f"; parent bundle {recalibration['parent_bundle_id']}")


def _recalibrated_model(model: dict[str, Any], update: Update) -> dict[str, Any]:
    """A ``LogisticModel.to_dict`` with the update applied to its coefficients and covariance."""
    terms = list(model.get("terms") or model["coefficients"])
    beta = np.r_[float(model["intercept"]), [float(model["coefficients"][t]) for t in terms]]
    sigma = np.array(model["cov"], dtype=float)
    unit = np.zeros(len(beta))
    unit[0] = 1.0
    v = update.cov
    cov = (update.slope ** 2 * sigma + v[0, 0] * np.outer(unit, unit)
           + v[0, 1] * (np.outer(unit, beta) + np.outer(beta, unit)) + v[1, 1] * np.outer(beta, beta))
    new = update.slope * beta
    new[0] += update.intercept
    level = float(model["params"].get("level", 0.95))
    se = np.sqrt(np.clip(np.diag(cov), 0, None))
    z = float(stats.norm.ppf(0.5 + level / 2))
    with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
        summary = pd.DataFrame({"variable": [INTERCEPT, *terms], "beta": new, "se": se, "or": np.exp(new),
                                "or_low": np.exp(new - z * se), "or_high": np.exp(new + z * se),
                                "p": 2 * stats.norm.sf(np.abs(new / se))})
    return {**model, "intercept": float(new[0]), "coefficients": dict(zip(terms, map(float, new[1:]))),
            "terms": terms, "cov": cov.tolist(), "summary": summary.to_dict(orient="records"),
            "recalibration": update.to_dict(level)}


def _recalibrated_nomogram(spec: dict[str, Any], update: Update) -> dict[str, Any]:
    """The nomogram of the recalibrated combined model: every beta times the slope, the intercept
    updated (so the points stay, and the points-to-risk scale moves)."""
    if update.slope <= 0:
        raise BundleError(f"a nomogram needs a positive slope; got {update.slope:.3f}")
    b = update.slope
    return Nomogram(update.intercept + b * float(spec["intercept"]),
                    {k: (b * float(beta), lo, hi) for k, (beta, lo, hi) in spec["continuous"].items()},
                    {k: {lv: b * float(v) for lv, v in levels.items()} for k, levels in spec["categorical"].items()}
                    ).to_dict()
