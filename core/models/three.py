"""The paper's three models, fitted on the training cohort and applied to any other.

- clinical: logistic on the independent clinical predictors;
- radiomics: logistic on the Radscore (``core.stats.selection.RadiomicsSelector``);
- combined: logistic on the clinical predictors + Radscore (drawn as the nomogram).

Everything is learned in ``fit`` from the training data only; ``predict`` applies the frozen
z-scores, Radscore and coefficients to another cohort.
"""
from __future__ import annotations

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
    Learned: selector_ (fitted), models_ {name: LogisticModel}, cutoffs_ {name: training
    Youden cut-off on the risk scale}, nomogram_ (combined model), train_ids_,
    train_predictions_ (DataFrame as ``predict``), warnings_.
    """

    def __init__(self, *, selector: RadiomicsSelector | None = None, method: str = "auto",
                 categorical: list[str] | None = None, profile: bool = True):
        self.selector = selector
        self.method = method
        self.categorical = categorical
        self.profile = profile

    def fit(self, clinical: pd.DataFrame, features: pd.DataFrame, *, predictors: list[str],
            outcome: str = "ptlf", X_retest: pd.DataFrame | None = None) -> "ThreeModels":
        """clinical: patients x (outcome + clinical columns); features: patients x features
        (both indexed by patient_id). Training patients: outcome known and features present."""
        if RADSCORE in clinical.columns:
            raise ValueError(f"clinical data must not have a column named {RADSCORE!r}")
        if outcome not in clinical.columns:
            raise ValueError(f"outcome column {outcome!r} not found")
        ids = clinical.index[clinical[outcome].notna()].intersection(features.index, sort=False)
        if len(ids) == 0:
            raise ValueError("no training patient has both an outcome and radiomics features")
        selector = clone(self.selector) if self.selector is not None else RadiomicsSelector()
        self.selector_ = selector.fit(features.loc[ids], clinical.loc[ids, outcome], X_retest)
        data = clinical.loc[ids].assign(**{RADSCORE: self.selector_.radscore(features.loc[ids])})
        spec = {"clinical": list(predictors), "radiomics": [RADSCORE], "combined": [*predictors, RADSCORE]}
        self.models_ = {
            name: LogisticModel(method=self.method, categorical=self.categorical, profile=self.profile)
            .fit(data, outcome, cols) for name, cols in spec.items()}
        self.outcome_ = outcome
        self.predictors_ = list(predictors)
        self.train_ids_ = list(ids)
        self.train_predictions_ = self._predict_frame(data)
        self.cutoffs_ = {}
        for name in MODEL_NAMES:
            scored = self.train_predictions_[name].notna()
            self.cutoffs_[name] = youden_cutoff(data.loc[scored, outcome].to_numpy(),
                                                self.train_predictions_.loc[scored, name].to_numpy())["cutoff"]
        self.nomogram_ = self.models_["combined"].nomogram(data)
        self.warnings_ = [f"radiomics selection: {w}" for w in self.selector_.warnings_] + [
            f"{name} model: {w}" for name, m in self.models_.items() for w in m.warnings_]
        return self

    def _predict_frame(self, data: pd.DataFrame) -> pd.DataFrame:
        out = pd.DataFrame({RADSCORE: data[RADSCORE]}, index=data.index)
        for name, model in self.models_.items():
            out[name] = model.predict_proba(data, missing="nan")
        return out

    def predict(self, clinical: pd.DataFrame, features: pd.DataFrame) -> pd.DataFrame:
        """Per patient of ``clinical``: radscore and the risk of each model (NaN where an
        input is missing; patients absent from ``features`` get NaN radscore)."""
        check_is_fitted(self, "models_")
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
            "selector": self.selector_.to_dict(),
            "models": {name: m.to_dict() for name, m in self.models_.items()},
            "cutoffs": self.cutoffs_, "nomogram": self.nomogram_.to_dict(),
            "n_train": len(self.train_ids_), "warnings": self.warnings_,
        })

    @classmethod
    def from_dict(cls, d: dict) -> "ThreeModels":
        """Rebuild a scoring-capable ThreeModels from ``to_dict``."""
        selector = RadiomicsSelector.from_dict(d["selector"])
        first = d["models"]["clinical"]["params"]
        obj = cls(selector=RadiomicsSelector(**d["selector"]["params"]), method=first["method"],
                  categorical=first["categorical"], profile=first["profile"])
        obj.selector_ = selector
        obj.models_ = {name: LogisticModel.from_dict(m) for name, m in d["models"].items()}
        obj.outcome_, obj.predictors_ = d["outcome"], list(d["predictors"])
        obj.cutoffs_ = {k: float(v) for k, v in d["cutoffs"].items()}
        obj.nomogram_ = Nomogram.from_dict(d["nomogram"])
        obj.warnings_ = list(d["warnings"])
        obj.train_ids_ = [None] * int(d["n_train"])
        return obj
