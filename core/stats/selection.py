"""Radiomics feature selection and Radscore, fitted on the training cohort only.

``RadiomicsSelector`` follows the scikit-learn estimator contract: ``__init__`` stores the
parameters, ``fit(X, y)`` learns everything (attributes ending in ``_``) and returns self,
``transform``/``radscore`` apply the frozen transforms to any cohort.

Steps (counts after each in ``counts_``, the paper's 3,748 -> 410 -> 45 -> 10):
1. features with missing values in the training cohort are dropped (``dropped_nan_``), then
   constant features (``dropped_constant_``);
2. z-score: ``means_`` and ``sds_`` (SD with ddof=1) from the training cohort; univariate
   Mann-Whitney U P values (two-sided) of every feature in ``univariate_p_``;
3. optional reproducibility filter: ICC (``icc_kind``) between ``X`` and a second
   measurement ``X_retest`` of the same patients, keeping ICC >= ``icc_threshold``;
4. redundancy: of every pair with Spearman |rho| > ``spearman_threshold`` the member with
   the higher univariate P goes (greedy in order of increasing P; ``redundant_`` maps each
   removed feature to the kept one that removed it);
5. univariate filter: Mann-Whitney P < ``univariate_p``;
6. LASSO logistic with stratified K-fold CV (``core.stats.lasso``), lambda_min or lambda_1se
   (``lasso_`` holds the whole path and CV; ``lasso_table_`` the CV deviance and its SE per
   lambda; ``lasso_path_`` the coefficients of every feature that is ever non-zero);
7. the ``top_k`` features by |LASSO coefficient|;
8. an unpenalised logistic model on those z-scored features; its linear predictor is the
   Radscore (``radscore_formula_``).
Seconds spent per step are in ``timings_``.

Features are a wide DataFrame indexed by patient_id, columns named "region:feature".
"""
from __future__ import annotations

import time
from collections import OrderedDict

import numpy as np
import pandas as pd
from scipy import stats
from sklearn.base import BaseEstimator
from sklearn.utils.validation import check_is_fitted
from threadpoolctl import threadpool_limits

from core.stats._checks import binary_outcome
from core.stats._json import jsonable
from core.stats.icc import KINDS, icc_features
from core.stats.lasso import lasso_logistic_cv
from core.stats.logistic import fit_logistic

LAMBDA_CHOICES = ("min", "1se")


def split_feature_name(name: str) -> tuple[str, str]:
    """'liver:original_firstorder_Mean' -> ('liver', 'original_firstorder_Mean')."""
    region, sep, feature = str(name).partition(":")
    return (region, feature) if sep else ("", region)


def aligned_outcome(y, index: pd.Index, name: str = "y") -> np.ndarray:
    """Outcome as 0/1 array aligned with ``index`` (a Series is matched by patient_id)."""
    if isinstance(y, pd.Series):
        missing = index.difference(y.index)
        if len(missing):
            raise ValueError(f"{name} lacks patients {missing.tolist()[:10]}")
        y = y.reindex(index)
    y = binary_outcome(np.asarray(y), name)
    if len(y) != len(index):
        raise ValueError(f"length mismatch: {len(index)} patients in X, {len(y)} outcomes")
    return y


def spearman_redundancy(X: pd.DataFrame, p_values: pd.Series, threshold: float) -> tuple[list[str], dict]:
    """Greedy redundancy removal: features in order of increasing P are kept unless their
    |Spearman rho| with an already kept feature exceeds ``threshold``.

    Returns (kept features in P order, {removed: kept feature that removed it}).
    """
    order = p_values.sort_values(kind="mergesort").index
    ranks = stats.rankdata(X[order].to_numpy(dtype=float), axis=0)
    ranks = np.ascontiguousarray(((ranks - ranks.mean(axis=0)) / ranks.std(axis=0)).T)   # (p, n)
    n = ranks.shape[1]
    removed_by = np.full(len(order), -1)
    kept = []
    with threadpool_limits(limits=1, user_api="blas"):   # many small products: threads only contend
        for i in range(len(order)):
            if removed_by[i] >= 0:
                continue
            kept.append(i)
            rho = ranks[i + 1:] @ ranks[i] / n
            newly = (np.abs(rho) > threshold) & (removed_by[i + 1:] < 0)
            removed_by[i + 1:][newly] = i
    names = list(order)
    return [names[i] for i in kept], {names[j]: names[k] for j, k in enumerate(removed_by) if k >= 0}


class RadiomicsSelector(BaseEstimator):
    """Feature selection + Radscore (see module docstring). All thresholds are parameters.

    method: logistic fit of the Radscore model ("auto" falls back to Firth under separation).
    fixed_features: skip steps 3-7 and use these features (z-score and Radscore model are
    still fitted), e.g. to refit a published or previously selected signature.
    """

    def __init__(self, *, icc_threshold: float = 0.75, icc_kind: str = "ICC(2,1)",
                 spearman_threshold: float = 0.8, univariate_p: float = 0.05, top_k: int = 10,
                 lambda_choice: str = "min", cv_folds: int = 10, n_lambda: int = 100,
                 lambda_min_ratio: float | None = None, seed: int = 0, method: str = "auto",
                 fixed_features: list[str] | None = None):
        self.icc_threshold = icc_threshold
        self.icc_kind = icc_kind
        self.spearman_threshold = spearman_threshold
        self.univariate_p = univariate_p
        self.top_k = top_k
        self.lambda_choice = lambda_choice
        self.cv_folds = cv_folds
        self.n_lambda = n_lambda
        self.lambda_min_ratio = lambda_min_ratio
        self.seed = seed
        self.method = method
        self.fixed_features = fixed_features

    def _check_params(self) -> None:
        if self.lambda_choice not in LAMBDA_CHOICES:
            raise ValueError(f"lambda_choice must be one of {LAMBDA_CHOICES}, got {self.lambda_choice!r}")
        if self.icc_kind not in KINDS:
            raise ValueError(f"icc_kind must be one of {KINDS}, got {self.icc_kind!r}")
        if not 0 < self.spearman_threshold <= 1:
            raise ValueError(f"spearman_threshold must be in (0, 1], got {self.spearman_threshold}")
        if not 0 < self.univariate_p <= 1:
            raise ValueError(f"univariate_p must be in (0, 1], got {self.univariate_p}")
        if int(self.top_k) < 1:
            raise ValueError(f"top_k must be >= 1, got {self.top_k}")

    @staticmethod
    def _require(features: list, step: str, detail: str) -> None:
        if not features:
            raise ValueError(f"radiomics selection: no feature left after step '{step}' ({detail})")

    def fit(self, X: pd.DataFrame, y, X_retest: pd.DataFrame | None = None) -> "RadiomicsSelector":
        """Learn the selection from training features X (patients x features) and outcome y
        (0/1; a Series is aligned by patient_id). X_retest: second measurement for ICC."""
        self._check_params()
        if not isinstance(X, pd.DataFrame):
            raise TypeError("X must be a DataFrame indexed by patient_id with one column per feature")
        y = aligned_outcome(y, X.index)
        counts = OrderedDict(input=X.shape[1])
        self.timings_ = OrderedDict()
        clock = time.perf_counter()
        if self.fixed_features is not None:
            absent = [f for f in self.fixed_features if f not in X.columns]
            if absent:
                raise ValueError(f"fixed feature column(s) missing: {absent}")
            X = X[list(self.fixed_features)]
        non_numeric = X.columns[~X.dtypes.map(pd.api.types.is_numeric_dtype).to_numpy(bool)].tolist()
        if non_numeric:
            raise ValueError(f"non-numeric feature columns: {non_numeric[:10]}")
        notes = []

        has_nan = X.columns[X.isna().any()].tolist()
        X = X.drop(columns=has_nan)
        counts["complete"] = X.shape[1]
        if has_nan:
            notes.append(f"{len(has_nan)} feature(s) with missing values in the training cohort dropped")
        self._require(list(X.columns), "complete", "every feature has missing values")
        constant = X.columns[(X.max() == X.min()).to_numpy()].tolist()
        X = X.drop(columns=constant)
        counts["non_constant"] = X.shape[1]
        if constant:
            notes.append(f"{len(constant)} constant feature(s) dropped")
        self._require(list(X.columns), "non_constant", "every feature is constant")
        self.means_ = X.mean()
        self.sds_ = X.std(ddof=1)
        values = X.to_numpy(dtype=float)
        p = stats.mannwhitneyu(values[y == 1], values[y == 0], alternative="two-sided", axis=0).pvalue
        self.univariate_p_ = pd.Series(p, index=X.columns, name="p")
        Z = (X - self.means_) / self.sds_
        self.timings_["filter_zscore_univariate"] = time.perf_counter() - clock

        if self.fixed_features is None:
            selected = self._select(X, Z, y, X_retest, counts, notes)
        else:
            selected = list(X.columns)
            self.icc_, self.redundant_, self.lasso_ = None, {}, None
            self.lambda_ = self.lambda_min_ = self.lambda_1se_ = None
            self.lasso_table_ = pd.DataFrame(columns=["lambda", "log_lambda", "cv_mean", "cv_se", "n_nonzero"])
            self.lasso_path_ = pd.DataFrame(columns=["lambda"])
            self.lasso_coef_ = pd.Series(np.nan, index=selected)
            counts["fixed"] = len(selected)

        clock = time.perf_counter()
        fit = fit_logistic(Z[selected], y, method=self.method, profile=False)
        self.timings_["radscore_model"] = time.perf_counter() - clock
        self.radscore_fit_ = fit
        self.radscore_method_ = fit.method
        self.intercept_ = float(fit.coef[0])
        self.coef_ = pd.Series(fit.coef[1:], index=list(fit.names[1:]), name="coef")
        self.selected_ = list(self.coef_.index)          # aliased features dropped by the fit
        self.counts_ = counts
        self.warnings_ = notes + [f"Radscore model: {w}" for w in fit.warnings]
        self.dropped_nan_ = has_nan
        self.dropped_constant_ = constant
        self.n_train_ = len(y)
        return self

    def _select(self, X: pd.DataFrame, Z: pd.DataFrame, y: np.ndarray, X_retest, counts: dict,
                notes: list) -> list[str]:
        """Steps 3-7 (ICC, Spearman, univariate, LASSO, top-k); returns the top-k features."""
        clock = time.perf_counter()
        self.icc_ = None
        if X_retest is not None:
            self.icc_ = icc_features(X, X_retest, self.icc_kind).reindex(X.columns)
            reproducible = self.icc_.index[self.icc_ >= self.icc_threshold].tolist()
            X = X[reproducible]
            counts["icc"] = X.shape[1]
            self._require(reproducible, "icc", f"{self.icc_kind} >= {self.icc_threshold}")
            self.timings_["icc"] = time.perf_counter() - clock
            clock = time.perf_counter()
        kept, self.redundant_ = spearman_redundancy(X, self.univariate_p_[X.columns], self.spearman_threshold)
        self.timings_["spearman"] = time.perf_counter() - clock
        counts["spearman"] = len(kept)
        significant = [f for f in kept if self.univariate_p_[f] < self.univariate_p]
        counts["univariate"] = len(significant)
        self._require(significant, "univariate", f"Mann-Whitney P < {self.univariate_p}")

        clock = time.perf_counter()
        self.lasso_ = lasso_logistic_cv(Z[significant], y, n_folds=self.cv_folds, seed=self.seed,
                                        n_lambda=self.n_lambda, lambda_min_ratio=self.lambda_min_ratio)
        index = self.lasso_.index_min if self.lambda_choice == "min" else self.lasso_.index_1se
        self.lambda_ = float(self.lasso_.path.lambdas[index])
        self.lambda_min_, self.lambda_1se_ = self.lasso_.lambda_min, self.lasso_.lambda_1se
        self.lasso_table_ = self.lasso_.table
        path = self.lasso_.path
        ever = (path.coef != 0).any(axis=0)
        self.lasso_path_ = pd.DataFrame(path.coef[:, ever], columns=np.array(path.feature_names)[ever])
        self.lasso_path_.insert(0, "lambda", path.lambdas)
        coef = self.lasso_.path.coef_at(index)
        self.lasso_coef_ = coef[coef != 0]
        counts["lasso"] = len(self.lasso_coef_)
        self._require(list(self.lasso_coef_.index), "lasso",
                      f"no non-zero coefficient at lambda_{self.lambda_choice} = {self.lambda_:.4g}")
        top = self.lasso_coef_.abs().sort_values(ascending=False, kind="mergesort").index[: int(self.top_k)]
        counts["top_k"] = len(top)
        self.timings_["lasso_cv"] = time.perf_counter() - clock
        if len(top) < self.top_k:
            notes.append(f"LASSO kept {len(top)} feature(s), fewer than top_k = {self.top_k}")
        return list(top)

    def transform(self, X: pd.DataFrame, missing: str = "raise") -> pd.DataFrame:
        """z-scored selected features (patients x top_k) with the training means and SDs.

        missing: "raise" (ValueError naming features and patients) or "nan" (kept as NaN).
        """
        check_is_fitted(self, "coef_")
        absent = [f for f in self.selected_ if f not in X.columns]
        if absent:
            raise ValueError(f"feature column(s) missing: {absent}")
        sub = X[self.selected_].astype(float)
        if missing == "raise" and sub.isna().any().any():
            bad = {f: sub.index[sub[f].isna()].tolist()[:10] for f in sub.columns if sub[f].isna().any()}
            raise ValueError(f"missing feature values (feature: patients): {bad}")
        return (sub - self.means_[self.selected_]) / self.sds_[self.selected_]

    def radscore(self, X: pd.DataFrame, missing: str = "raise") -> pd.Series:
        """Radscore (log-odds scale) per patient: intercept + sum coef * z."""
        Z = self.transform(X, missing=missing)
        return (self.intercept_ + Z @ self.coef_).rename("radscore")

    @property
    def radscore_formula_(self) -> str:
        check_is_fitted(self, "coef_")
        terms = "".join(f" {'-' if c < 0 else '+'} {abs(c):.4f} * {f}(z)" for f, c in self.coef_.items())
        return f"Radscore = {self.intercept_:.4f}{terms}"

    @property
    def summary(self) -> pd.DataFrame:
        """Selected features: feature, region, name, coef (Radscore model), lasso_coef,
        univariate_p, mean, sd (training z-score)."""
        check_is_fitted(self, "coef_")
        rows = []
        for f, c in self.coef_.items():
            region, name = split_feature_name(f)
            rows.append({"feature": f, "region": region, "name": name, "coef": c,
                         "lasso_coef": self.lasso_coef_.get(f, np.nan),
                         "univariate_p": self.univariate_p_.get(f, np.nan),
                         "mean": self.means_[f], "sd": self.sds_[f]})
        return pd.DataFrame(rows)

    def to_dict(self) -> dict:
        """JSON-able description: parameters, counts, selected features with coefficients and
        z-score means/SDs, Radscore formula, lambdas, the CV table and the coefficient path."""
        check_is_fitted(self, "coef_")
        out = {
            "params": self.get_params(),
            "counts": dict(self.counts_),
            "selected": self.summary,
            "intercept": self.intercept_,
            "radscore_formula": self.radscore_formula_,
            "lambda": self.lambda_,
            "lambda_min": self.lambda_min_,
            "lambda_1se": self.lambda_1se_,
            "lasso_cv": self.lasso_table_,
            "lasso_path": self.lasso_path_,
            "radscore_method": self.radscore_method_,
            "dropped_nan": list(self.dropped_nan_),
            "dropped_constant": list(self.dropped_constant_),
            "warnings": list(self.warnings_),
            "n_train": self.n_train_,
        }
        return jsonable(out)

    @classmethod
    def from_dict(cls, d: dict) -> "RadiomicsSelector":
        """Rebuild a selector that scores new cohorts (transform, radscore) from ``to_dict``."""
        obj = cls(**d["params"])
        sel = pd.DataFrame(d["selected"])
        obj.selected_ = sel["feature"].tolist()
        obj.coef_ = pd.Series(sel["coef"].to_numpy(float), index=obj.selected_, name="coef")
        obj.lasso_coef_ = pd.Series(sel["lasso_coef"].to_numpy(float), index=obj.selected_)
        obj.univariate_p_ = pd.Series(sel["univariate_p"].to_numpy(float), index=obj.selected_)
        obj.means_ = pd.Series(sel["mean"].to_numpy(float), index=obj.selected_)
        obj.sds_ = pd.Series(sel["sd"].to_numpy(float), index=obj.selected_)
        obj.intercept_ = float(d["intercept"])
        obj.lambda_, obj.lambda_min_, obj.lambda_1se_ = d["lambda"], d["lambda_min"], d["lambda_1se"]
        obj.counts_ = OrderedDict(d["counts"])
        obj.warnings_ = list(d["warnings"])
        obj.dropped_nan_, obj.dropped_constant_ = list(d["dropped_nan"]), list(d["dropped_constant"])
        obj.n_train_ = d["n_train"]
        obj.lasso_table_ = pd.DataFrame(d["lasso_cv"])
        obj.lasso_path_ = pd.DataFrame(d["lasso_path"])
        obj.radscore_method_ = d["radscore_method"]
        return obj
