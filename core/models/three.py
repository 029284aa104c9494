"""The paper's three models, fitted on the training cohort and applied to any other.

- clinical: logistic on the independent clinical predictors;
- radiomics: logistic on the Radscore (``core.stats.selection.RadiomicsSelector``);
- combined: logistic on the clinical predictors + Radscore (drawn as the nomogram).

Everything is learned in ``fit`` from the training data only; ``predict`` applies the frozen
z-scores, Radscore and coefficients to another cohort.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, clone
from sklearn.utils.validation import check_is_fitted

from core.models.logistic import LogisticModel
from core.stats._json import jsonable
from core.stats.nomogram import Nomogram
from core.stats.roc import youden_cutoff
from core.stats.selection import RadiomicsSelector

MODEL_NAMES = ("clinical", "radiomics", "combined")
RADSCORE = "radscore"


class ThreeModels(BaseEstimator):
    """Clinical, radiomics and combined logistic models.

    selector: an unfitted ``RadiomicsSelector`` carrying the selection parameters (cloned in
    fit). method, categorical, profile: passed to each ``LogisticModel``.
    Learned: selector_ (fitted; None when no feature survived the selection), models_
    {name: LogisticModel} of the models that could be fitted, skipped_ {name: reason} of the
    others (no clinical predictor: clinical and combined; no Radscore: radiomics and
    combined), cutoffs_ {name: training Youden cut-off on the risk scale}, nomogram_
    (combined model, else None), train_ids_, train_predictions_ (DataFrame as ``predict``),
    warnings_.
    """

    def __init__(self, *, selector: RadiomicsSelector | None = None, method: str = "auto",
                 categorical: list[str] | None = None, profile: bool = True):
        self.selector = selector
        self.method = method
        self.categorical = categorical
        self.profile = profile

    def fit(self, clinical: pd.DataFrame, features: pd.DataFrame, *, predictors: list[str],
            outcome: str = "ptlf", X_retest: pd.DataFrame | None = None, sample_weight=None,
            column_ranks=None, lean: bool = False) -> "ThreeModels":
        """clinical: patients x (outcome + clinical columns); features: patients x features
        (both indexed by patient_id). Training patients: outcome known and features present.

        sample_weight: (len(clinical),) times each patient counts (a bootstrap replicate);
        column_ranks: ``ColumnRanks`` of the training patients' features, reused across fits;
        lean: skip what only a reported fit needs (cut-offs, nomogram, funnel counts).
        """
        if RADSCORE in clinical.columns:
            raise ValueError(f"clinical data must not have a column named {RADSCORE!r}")
        if outcome not in clinical.columns:
            raise ValueError(f"outcome column {outcome!r} not found")
        train = clinical[outcome].notna().to_numpy() & clinical.index.isin(features.index)
        ids = clinical.index[train]
        if len(ids) == 0:
            raise ValueError("no training patient has both an outcome and radiomics features")
        weights = np.ones(len(ids)) if sample_weight is None else np.asarray(sample_weight, dtype=float)[train]
        data = clinical.loc[ids]
        self.skipped_ = {}
        self.selector_ = None
        selector = clone(self.selector) if self.selector is not None else RadiomicsSelector()
        try:
            self.selector_ = selector.fit(features.loc[ids], data[outcome], X_retest, sample_weight=weights,
                                          column_ranks=column_ranks, funnel=not lean)
        except ValueError as exc:
            if not str(exc).startswith("radiomics selection:"):
                raise
            self.skipped_["radiomics"] = self.skipped_["combined"] = f"no Radscore: {exc}"
        else:
            data = data.assign(**{RADSCORE: self.selector_.radscore(features.loc[ids])})
        if not predictors:
            self.skipped_["clinical"] = "no clinical predictor was selected or named"
            self.skipped_.setdefault("combined", self.skipped_["clinical"])
        spec = {"clinical": list(predictors), "radiomics": [RADSCORE], "combined": [*predictors, RADSCORE]}
        rows = data.iloc[np.repeat(np.arange(len(ids)), weights.astype(int))] if sample_weight is not None else data
        self.models_ = {
            name: LogisticModel(method=self.method, categorical=self.categorical, profile=self.profile)
            .fit(rows, outcome, spec[name]) for name in MODEL_NAMES if name not in self.skipped_}
        self.outcome_ = outcome
        self.predictors_ = list(predictors)
        self.train_ids_ = list(ids)
        self.warnings_ = [f"radiomics selection: {w}" for w in (self.selector_.warnings_ if self.selector_ else [])] \
            + [f"{name} model: {w}" for name, m in self.models_.items() for w in m.warnings_] \
            + [f"{name} model not fitted: {why}" for name, why in self.skipped_.items()]
        self.cutoffs_, self.nomogram_ = {}, None
        if lean:
            return self
        self.train_predictions_ = self._predict_frame(data)
        for name in self.models_:
            scored = self.train_predictions_[name].notna()
            self.cutoffs_[name] = youden_cutoff(data.loc[scored, outcome].to_numpy(),
                                                self.train_predictions_.loc[scored, name].to_numpy())["cutoff"]
        if "combined" in self.models_:
            self.nomogram_ = self.models_["combined"].nomogram(data)
        return self

    def _predict_frame(self, data: pd.DataFrame) -> pd.DataFrame:
        out = pd.DataFrame({RADSCORE: data[RADSCORE] if RADSCORE in data else np.nan}, index=data.index)
        for name in MODEL_NAMES:
            out[name] = self.models_[name].predict_proba(data, missing="nan") if name in self.models_ else np.nan
        return out

    def predict(self, clinical: pd.DataFrame, features: pd.DataFrame) -> pd.DataFrame:
        """Per patient of ``clinical``: radscore and the risk of each model (NaN where an
        input is missing; patients absent from ``features`` get NaN radscore)."""
        check_is_fitted(self, "models_")
        if self.selector_ is None:
            return self._predict_frame(clinical)
        feats = features.reindex(clinical.index)
        absent = [f for f in self.selector_.selected_ if f not in features.columns]
        if absent:
            raise ValueError(f"feature column(s) missing: {absent}")
        data = clinical.assign(**{RADSCORE: self.selector_.radscore(feats, missing="nan")})
        return self._predict_frame(data)

    def to_dict(self) -> dict:
        check_is_fitted(self, "models_")
        return jsonable({
            "outcome": self.outcome_, "predictors": self.predictors_,
            "selector": self.selector_.to_dict() if self.selector_ is not None else None,
            "models": {name: m.to_dict() for name, m in self.models_.items()},
            "skipped": self.skipped_,
            "cutoffs": self.cutoffs_, "nomogram": self.nomogram_.to_dict() if self.nomogram_ else None,
            "n_train": len(self.train_ids_), "warnings": self.warnings_,
        })

    @classmethod
    def from_dict(cls, d: dict) -> "ThreeModels":
        """Rebuild a scoring-capable ThreeModels from ``to_dict``."""
        selector = RadiomicsSelector.from_dict(d["selector"]) if d.get("selector") else None
        first = next(iter(d["models"].values()))["params"]
        obj = cls(selector=RadiomicsSelector(**selector.get_params()) if selector else None, method=first["method"],
                  categorical=first["categorical"], profile=first["profile"])
        obj.selector_ = selector
        obj.models_ = {name: LogisticModel.from_dict(m) for name, m in d["models"].items()}
        obj.skipped_ = dict(d.get("skipped") or {})
        obj.outcome_, obj.predictors_ = d["outcome"], list(d["predictors"])
        obj.cutoffs_ = {k: float(v) for k, v in d["cutoffs"].items()}
        obj.nomogram_ = Nomogram.from_dict(d["nomogram"]) if d.get("nomogram") else None
        obj.warnings_ = list(d["warnings"])
        obj.train_ids_ = [None] * int(d["n_train"])
        return obj
