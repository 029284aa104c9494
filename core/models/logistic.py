"""``LogisticModel``: a logistic regression on named DataFrame columns, scikit-learn style.

    model = LogisticModel().fit(df, outcome="ptlf", predictors=["inr", "alb"])
    model.predict_proba(other_cohort)      # Series of P(event) by patient_id

Categorical predictors are dummy-coded with levels frozen at fit time
(``core.stats.design``); patients with a missing outcome or predictor are left out of the
fit (complete-case, listed in ``excluded_``). The fit itself is ``core.stats.fit_logistic``:
ML with Firth's fallback under separation, problems listed in ``warnings_``.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats
from scipy.special import expit
from sklearn.base import BaseEstimator
from sklearn.utils.validation import check_is_fitted

from core.stats._json import jsonable
from core.stats.design import Design, missing_rows
from core.stats.logistic import INTERCEPT, fit_logistic
from core.stats.nomogram import Nomogram


class LogisticModel(BaseEstimator):
    """Logistic model; learned attributes end in ``_``.

    coef_: Series by model term; intercept_: float; feature_names_: model terms;
    predictors_: clinical variables as given; cov_: DataFrame (intercept + terms) for
    prediction intervals; n_obs_, n_events_; method_ ("ml" | "firth"); excluded_ patients;
    warnings_.
    """

    def __init__(self, *, method: str = "auto", level: float = 0.95, categorical: list[str] | None = None,
                 profile: bool = True):
        self.method = method
        self.level = level
        self.categorical = categorical
        self.profile = profile

    def fit(self, df: pd.DataFrame, outcome: str = "ptlf", predictors: list[str] = ()) -> "LogisticModel":
        """Fit ``outcome`` (0/1 column) on ``predictors`` (columns of df, one row per patient)."""
        if not predictors:
            raise ValueError("predictors must name at least one column")
        cols = [outcome, *predictors]
        absent = [c for c in cols if c not in df.columns]
        if absent:
            raise ValueError(f"columns not found: {absent}")
        complete = df[cols].notna().all(axis=1)
        data = df.loc[complete]
        design = Design.from_frame(data, list(predictors), self.categorical)
        fit = fit_logistic(design.transform(data), data[outcome].to_numpy(), method=self.method,
                           level=self.level, profile=self.profile)
        names = list(fit.names)
        self.design_ = design
        self.outcome_ = outcome
        self.predictors_ = list(predictors)
        self.fit_ = fit
        self.intercept_ = float(fit.coef[0])
        self.coef_ = pd.Series(fit.coef[1:], index=names[1:], name="coef")
        self.feature_names_ = names[1:]
        self.cov_ = pd.DataFrame(fit.cov, index=names, columns=names)
        self.n_obs_, self.n_events_ = fit.n_obs, fit.n_events
        self.method_ = fit.method
        self.excluded_ = df.index[~complete].tolist()
        notes = [f"{len(self.excluded_)} patient(s) with missing values excluded from the fit"
                 ] if self.excluded_ else []
        self.warnings_ = notes + list(fit.warnings)
        self._summary = fit.summary
        return self

    @property
    def summary(self) -> pd.DataFrame:
        """variable, beta, se, or, or_low, or_high, p (intercept first)."""
        check_is_fitted(self, "coef_")
        return self._summary

    def _design_matrix(self, df: pd.DataFrame, missing: str) -> pd.DataFrame:
        if missing not in ("raise", "nan"):
            raise ValueError(f"missing must be 'raise' or 'nan', got {missing!r}")
        absent = [p for p in self.predictors_ if p not in df.columns]
        if absent:
            raise ValueError(f"predictor column(s) missing: {absent}")
        if missing == "raise":
            bad = missing_rows(df, self.predictors_)
            if bad:
                detail = "; ".join(f"{c}: {ids[:10]}" for c, ids in bad.items())
                raise ValueError(f"missing predictor values (column: patients): {detail}")
        return self.design_.transform(df)[self.feature_names_]

    def linear_predictor(self, df: pd.DataFrame, missing: str = "raise") -> pd.Series:
        """Log-odds per patient (index of df). missing="nan" gives NaN for incomplete rows."""
        check_is_fitted(self, "coef_")
        X = self._design_matrix(df, missing)
        return pd.Series(self.intercept_ + X.to_numpy() @ self.coef_.to_numpy(), index=df.index,
                         name="linear_predictor")

    def predict_proba(self, df: pd.DataFrame, missing: str = "raise") -> pd.Series:
        """Probability of the event (outcome = 1) per patient."""
        return expit(self.linear_predictor(df, missing)).rename("risk")

    def predict_interval(self, df: pd.DataFrame, missing: str = "raise") -> pd.DataFrame:
        """risk with a CI at ``level`` from cov_ (on the log-odds scale, then transformed)."""
        check_is_fitted(self, "coef_")
        X = self._design_matrix(df, missing)
        design = np.column_stack([np.ones(len(X)), X.to_numpy()])
        lp = design @ np.r_[self.intercept_, self.coef_.to_numpy()]
        se = np.sqrt(np.einsum("ij,jk,ik->i", design, self.cov_.to_numpy(), design))
        z = stats.norm.ppf(0.5 + self.level / 2)
        return pd.DataFrame({"risk": expit(lp), "risk_low": expit(lp - z * se),
                             "risk_high": expit(lp + z * se)}, index=df.index)

    def nomogram(self, df: pd.DataFrame) -> Nomogram:
        """rms-style nomogram of this model; continuous ranges from ``df`` (the training data)."""
        check_is_fitted(self, "coef_")
        continuous, categorical = {}, {}
        for v in self.predictors_:
            if v in self.design_.levels:
                levels = self.design_.levels[v]
                categorical[v] = {levels[0]: 0.0, **{lv: float(self.coef_.get(f"{v}[{lv}]", 0.0)) for lv in levels[1:]}}
            elif v in self.coef_.index:
                values = pd.to_numeric(df[v], errors="coerce").dropna()
                continuous[v] = (float(self.coef_[v]), float(values.min()), float(values.max()))
        return Nomogram(self.intercept_, continuous, categorical)

    def to_dict(self) -> dict:
        check_is_fitted(self, "coef_")
        return jsonable({
            "params": {"method": self.method, "level": self.level, "categorical": self.categorical,
                       "profile": self.profile},
            "outcome": self.outcome_, "predictors": self.predictors_, "design": self.design_.to_dict(),
            "intercept": self.intercept_, "coefficients": self.coef_, "terms": self.feature_names_,
            "cov": self.cov_.to_numpy(),
            "summary": self._summary, "n_obs": self.n_obs_, "n_events": self.n_events_,
            "method_used": self.method_, "excluded": self.excluded_, "warnings": self.warnings_,
        })

    @classmethod
    def from_dict(cls, d: dict) -> "LogisticModel":
        obj = cls(**d["params"])
        obj.outcome_, obj.predictors_ = d["outcome"], list(d["predictors"])
        obj.design_ = Design.from_dict(d["design"])
        obj.intercept_ = float(d["intercept"])
        coef = pd.Series(d["coefficients"], dtype=float, name="coef")
        # the covariance rows follow the fit's term order; a JSON file may have sorted the coefficient keys
        obj.coef_ = coef.reindex(d["terms"]) if d.get("terms") else coef
        obj.feature_names_ = list(obj.coef_.index)
        names = [INTERCEPT, *obj.feature_names_]
        obj.cov_ = pd.DataFrame(np.array(d["cov"], dtype=float), index=names, columns=names)
        obj._summary = pd.DataFrame(d["summary"])
        obj.n_obs_, obj.n_events_ = d["n_obs"], d["n_events"]
        obj.method_, obj.excluded_, obj.warnings_ = d["method_used"], list(d["excluded"]), list(d["warnings"])
        return obj
