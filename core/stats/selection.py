"""Radiomics feature selection and Radscore, fitted on the training cohort only.

``RadiomicsSelector`` follows the scikit-learn estimator contract: ``__init__`` stores the
parameters, ``fit(X, y)`` learns everything (attributes ending in ``_``) and returns self,
``transform``/``radscore`` apply the frozen transforms to any cohort.

Steps (counts after each in ``counts_``, the paper's 3,748 -> 410 -> 45 -> 10):
1. features with missing values in the training cohort are dropped (``dropped_nan_``), then
   constant features (``dropped_constant_``);
2. z-score: ``means_`` and ``sds_`` (SD with ddof=1) from the training cohort; univariate
   Mann-Whitney U P values (two-sided) of every feature in ``univariate_p_``;
3. optional reproducibility filter: ICC (``icc_kind``) between ``X`` and one or more further
   measurements ``X_retest`` of (some of) the same patients (another reader's masks, perturbed
   masks), keeping ICC >= ``icc_threshold`` (``icc_``);
4. redundancy: of every pair with Spearman |rho| > ``spearman_threshold`` the member with
   the higher univariate P goes (greedy in order of increasing P; ``redundant_`` maps each
   removed feature to the kept one that removed it);
5. univariate filter: Mann-Whitney P < ``univariate_p``;
6. LASSO logistic with stratified K-fold CV (``core.stats.lasso``), lambda_min or lambda_1se
   (``lasso_`` holds the whole path and CV; ``lasso_table_`` the CV deviance and its SE per
   lambda; ``lasso_path_`` the coefficients of every feature that is ever non-zero). With
   ``cv_selection="inside"`` (the default) steps 4-5 are refitted on the training part of
   every CV fold, so the held-out patients never chose the features that predict them and
   the CV deviance is honest; ``"outside"`` filters once on all patients, as the paper did;
7. the ``top_k`` features by |LASSO coefficient|;
8. the Radscore on those z-scored features: by default (``radscore_coef="refit"``, as the
   paper) the linear predictor of an unpenalised logistic model refitted on them;
   ``"lasso_min"``/``"lasso_1se"`` keep the LASSO's own (shrunken) intercept and coefficients
   at that lambda instead (``radscore_formula_``; every variant in ``radscore_variants_``).
Seconds spent per step are in ``timings_``.

Steps 4 and 5 commute for the features that survive both: a feature with P < ``univariate_p``
can only be removed by one with a smaller P, so the redundancy search runs only over the
significant features (the funnel's Spearman count, over every feature, is computed once for
the full fit). ``sample_weight`` (how many times each patient is drawn) fits on a bootstrap
replicate without copying rows for the rank statistics; ``column_ranks`` reuses the sorted
columns of X across fits (see ``core.stats.ranks``).

Features are a wide DataFrame indexed by patient_id, columns named "region:feature".
"""
from __future__ import annotations

import time
from collections import OrderedDict

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator
from sklearn.utils.validation import check_is_fitted

from core.stats._checks import binary_outcome
from core.stats._json import jsonable
from core.stats.icc import KINDS, icc_measurements
from core.stats.lasso import LassoCV, lasso_logistic_cv
from core.stats.logistic import fit_logistic
from core.stats.ranks import ColumnRanks, greedy_redundancy

LAMBDA_CHOICES = ("min", "1se")
CV_SELECTION = ("inside", "outside")
RADSCORE_COEFS = ("refit", "lasso_min", "lasso_1se")


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
    order = list(p_values.sort_values(kind="mergesort").index)
    kept, remover = greedy_redundancy(ColumnRanks(X[order].to_numpy(dtype=float)).scaled_ranks(
        np.arange(len(order))), threshold)
    return [order[i] for i in kept], {order[j]: order[k] for j, k in enumerate(remover) if k >= 0}


def _weighted_mean_sd(X: np.ndarray, w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Column means and SDs (ddof=1) of the rows repeated ``w`` times."""
    total = w.sum()
    mean = w @ X / total
    var = w @ (X - mean) ** 2 / (total - 1)
    return mean, np.sqrt(var)


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
                 cv_selection: str = "inside", radscore_coef: str = "refit",
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
        self.cv_selection = cv_selection
        self.radscore_coef = radscore_coef
        self.fixed_features = fixed_features

    def _check_params(self) -> None:
        for name, value, allowed in (("lambda_choice", self.lambda_choice, LAMBDA_CHOICES),
                                     ("icc_kind", self.icc_kind, KINDS),
                                     ("cv_selection", self.cv_selection, CV_SELECTION),
                                     ("radscore_coef", self.radscore_coef, RADSCORE_COEFS)):
            if value not in allowed:
                raise ValueError(f"{name} must be one of {allowed}, got {value!r}")
        if not 0 < self.spearman_threshold <= 1:
            raise ValueError(f"spearman_threshold must be in (0, 1], got {self.spearman_threshold}")
        if not 0 < self.univariate_p <= 1:
            raise ValueError(f"univariate_p must be in (0, 1], got {self.univariate_p}")
        if int(self.top_k) < 1:
            raise ValueError(f"top_k must be >= 1, got {self.top_k}")

    @staticmethod
    def _require(features, step: str, detail: str) -> None:
        if not len(features):
            raise ValueError(f"radiomics selection: no feature left after step '{step}' ({detail})")

    def fit(self, X: pd.DataFrame, y, X_retest: pd.DataFrame | None = None, *,
            sample_weight: np.ndarray | None = None, column_ranks: ColumnRanks | None = None,
            funnel: bool = True) -> "RadiomicsSelector":
        """Learn the selection from training features X (patients x features) and outcome y
        (0/1; a Series is aligned by patient_id). X_retest: a further measurement of the features
        (or a list of them) for the ICC filter.

        sample_weight: (n,) how many times each patient counts (a bootstrap replicate's draw
        counts; 0 leaves a patient out); column_ranks: ``ColumnRanks`` of ``X``'s columns, to
        reuse across fits on the same X; funnel: also count the features left by the Spearman
        filter over every feature (only the funnel display needs it).
        """
        self._check_params()
        if not isinstance(X, pd.DataFrame):
            raise TypeError("X must be a DataFrame indexed by patient_id with one column per feature")
        y = aligned_outcome(y, X.index)
        w = np.ones(len(y)) if sample_weight is None else np.asarray(sample_weight, dtype=float)
        if w.shape != y.shape or (w < 0).any():
            raise ValueError(f"sample_weight must be {len(y)} non-negative counts, one per patient")
        counts = OrderedDict(input=X.shape[1])
        self.timings_ = OrderedDict()
        clock = time.perf_counter()
        columns = list(X.columns)
        if self.fixed_features is not None:
            absent = [f for f in self.fixed_features if f not in X.columns]
            if absent:
                raise ValueError(f"fixed feature column(s) missing: {absent}")
            columns = list(self.fixed_features)
        frame = X[columns]
        non_numeric = frame.columns[~frame.dtypes.map(pd.api.types.is_numeric_dtype).to_numpy(bool)].tolist()
        if non_numeric:
            raise ValueError(f"non-numeric feature columns: {non_numeric[:10]}")
        values = frame.to_numpy(dtype=float)
        used = w > 0
        notes = []

        has_nan = np.isnan(values[used]).any(axis=0)
        counts["complete"] = int((~has_nan).sum())
        if has_nan.any():
            notes.append(f"{int(has_nan.sum())} feature(s) with missing values in the training cohort dropped")
        self._require(np.flatnonzero(~has_nan), "complete", "every feature has missing values")
        with np.errstate(invalid="ignore"):
            constant = ~has_nan & (np.nanmax(values[used], axis=0) == np.nanmin(values[used], axis=0))
        keep = np.flatnonzero(~has_nan & ~constant)
        counts["non_constant"] = len(keep)
        if constant.any():
            notes.append(f"{int(constant.sum())} constant feature(s) dropped")
        self._require(keep, "non_constant", "every feature is constant")
        names = np.asarray(columns, dtype=object)
        mean, sd = _weighted_mean_sd(values[used][:, keep], w[used])
        self.means_ = pd.Series(mean, index=names[keep])
        self.sds_ = pd.Series(sd, index=names[keep])
        reuse = column_ranks is not None and self.fixed_features is None
        ranks = column_ranks if reuse else ColumnRanks(values)
        if ranks.shape != values.shape:
            raise ValueError(f"column_ranks were built for {ranks.shape} values, X has {values.shape}")
        p = ranks.mann_whitney_p(y, w)[keep]
        self.univariate_p_ = pd.Series(p, index=names[keep], name="p")
        Z = (values[:, keep] - mean) / sd
        self.timings_["filter_zscore_univariate"] = time.perf_counter() - clock

        if self.fixed_features is None:
            top = self._select(X, Z, y, w, ranks, keep, names, X_retest, counts, notes, funnel)
        else:
            top = np.arange(len(keep))
            self.icc_, self.redundant_, self.lasso_ = None, {}, None
            self.lambda_ = self.lambda_min_ = self.lambda_1se_ = None
            self.lasso_table_ = pd.DataFrame(columns=["lambda", "log_lambda", "cv_mean", "cv_se", "n_nonzero"])
            self.lasso_path_ = pd.DataFrame(columns=["lambda"])
            self.lasso_coef_ = pd.Series(np.nan, index=names[keep])
            counts["fixed"] = len(keep)

        clock = time.perf_counter()
        rows = np.repeat(np.arange(len(y)), w.astype(int))
        fit = fit_logistic(pd.DataFrame(Z[rows][:, top], columns=names[keep][top]), y[rows],
                           method=self.method, profile=False)
        self.timings_["radscore_model"] = time.perf_counter() - clock
        self.radscore_fit_ = fit
        self.radscore_method_ = fit.method
        self.refit_intercept_ = float(fit.coef[0])
        self.refit_coef_ = pd.Series(fit.coef[1:], index=list(fit.names[1:]), name="coef")
        notes += [f"Radscore model: {w}" for w in fit.warnings]
        self.intercept_, self.coef_ = self._radscore_coefficients(notes)
        self.selected_ = list(self.coef_.index)          # aliased features dropped by the fit
        self.counts_ = counts
        self.warnings_ = notes
        self.dropped_nan_ = list(names[has_nan])
        self.dropped_constant_ = list(names[constant])
        self.n_train_ = int(w.sum())
        return self

    def _select(self, X: pd.DataFrame, Z: np.ndarray, y: np.ndarray, w: np.ndarray, ranks: ColumnRanks,
                keep: np.ndarray, names: np.ndarray, X_retest, counts: dict, notes: list,
                funnel: bool) -> np.ndarray:
        """Steps 3-7 (ICC, Spearman, univariate, LASSO, top-k); returns positions (in ``keep``)
        of the top-k features."""
        clock = time.perf_counter()
        self.icc_ = None
        candidates = np.arange(len(keep))                   # positions in keep
        if X_retest is not None:
            others = list(X_retest) if isinstance(X_retest, (list, tuple)) else [X_retest]
            measured = X.index.isin(set.intersection(*(set(o.index) for o in others))) & (w > 0)
            drawn = X.index[np.repeat(np.flatnonzero(measured), w[measured].astype(int))]   # a draw's repeats kept
            columns = list(names[keep])
            self.icc_ = icc_measurements([X.reindex(index=drawn, columns=columns)]
                                         + [o.reindex(index=drawn, columns=columns) for o in others],
                                         self.icc_kind).reindex(names[keep])
            candidates = np.flatnonzero((self.icc_ >= self.icc_threshold).to_numpy())
            counts["icc"] = len(candidates)
            self._require(candidates, "icc", f"{self.icc_kind} >= {self.icc_threshold}")
            self.timings_["icc"] = time.perf_counter() - clock
            clock = time.perf_counter()
        p = self.univariate_p_.to_numpy()
        if funnel:
            order = candidates[np.argsort(p[candidates], kind="mergesort")]
            kept, remover = greedy_redundancy(ranks.scaled_ranks(keep[order], w), self.spearman_threshold)
            counts["spearman"] = len(kept)
            self.redundant_ = {names[keep][order[j]]: names[keep][order[k]] for j, k in enumerate(remover) if k >= 0}
            significant = order[kept][p[order[kept]] < self.univariate_p]
        else:
            significant = self._filters(ranks, keep, candidates, p, w)
            self.redundant_ = {}
        self.timings_["spearman"] = time.perf_counter() - clock
        counts["univariate"] = len(significant)
        self._require(significant, "univariate", f"Mann-Whitney P < {self.univariate_p}")

        clock = time.perf_counter()
        self.lasso_ = self._lasso_cv(Z, y, w, ranks, keep, candidates, significant, names)
        index = self.lasso_.index_min if self.lambda_choice == "min" else self.lasso_.index_1se
        self.lambda_ = float(self.lasso_.path.lambdas[index])
        self.lambda_min_, self.lambda_1se_ = self.lasso_.lambda_min, self.lasso_.lambda_1se
        self.lasso_table_ = self.lasso_.table
        path = self.lasso_.path
        ever = (path.coef != 0).any(axis=0)
        self.lasso_path_ = pd.DataFrame(path.coef[:, ever], columns=np.array(path.feature_names)[ever])
        self.lasso_path_.insert(0, "lambda", path.lambdas)
        coef = path.coef_at(index)
        self.lasso_coef_ = coef[coef != 0]
        counts["lasso"] = len(self.lasso_coef_)
        self._require(self.lasso_coef_.index, "lasso",
                      f"no non-zero coefficient at lambda_{self.lambda_choice} = {self.lambda_:.4g}")
        top = self._top(self.lasso_coef_)
        counts["top_k"] = len(top)
        self.timings_["lasso_cv"] = time.perf_counter() - clock
        if len(top) < self.top_k:
            notes.append(f"LASSO kept {len(top)} feature(s), fewer than top_k = {self.top_k}")
        position = {name: i for i, name in enumerate(names[keep])}
        return np.array([position[f] for f in top])

    def _filters(self, ranks: ColumnRanks, keep: np.ndarray, candidates: np.ndarray, p: np.ndarray,
                 w: np.ndarray) -> np.ndarray:
        """Steps 4-5 on the patients weighted by ``w``, given their P values ``p`` (positions in keep)."""
        significant = candidates[p[candidates] < self.univariate_p]
        significant = significant[np.argsort(p[significant], kind="mergesort")]
        kept, _ = greedy_redundancy(ranks.scaled_ranks(keep[significant], w), self.spearman_threshold)
        return significant[kept]

    def _top(self, coef: pd.Series) -> list[str]:
        return list(coef.abs().sort_values(ascending=False, kind="mergesort").index[: int(self.top_k)])

    def _lasso_cv(self, Z: np.ndarray, y: np.ndarray, w: np.ndarray, ranks: ColumnRanks, keep: np.ndarray,
                  candidates: np.ndarray, significant: np.ndarray, names: np.ndarray) -> LassoCV:
        """LASSO path on the significant features and its K-fold CV (cv.glmnet, deviance).

        The patients' rows are repeated ``w`` times; folds are stratified over those rows. With
        ``cv_selection="inside"`` each fold's features come from steps 4-5 refitted on its
        training rows.
        """
        rows = np.repeat(np.arange(len(y)), w.astype(int))
        yr = y[rows]
        smaller = int(min(yr.sum(), len(yr) - yr.sum()))
        if self.cv_folds < 2 or self.cv_folds > smaller:
            raise ValueError(f"cv_folds must be between 2 and the size of the smaller outcome class ({smaller}), "
                             f"got {self.cv_folds}")

        def fold_columns(train: np.ndarray) -> np.ndarray:
            wk = np.bincount(rows[train], minlength=len(y)).astype(float)
            return self._filters(ranks, keep, candidates, ranks.mann_whitney_p(y, wk)[keep], wk)

        inside = self.cv_selection == "inside"
        columns = np.union1d(significant, candidates) if inside else significant
        X = pd.DataFrame(Z[rows][:, columns], columns=names[keep][columns])
        position = np.full(len(keep), -1)                                   # keep-position -> X column
        position[columns] = np.arange(len(columns))
        return lasso_logistic_cv(X, yr, n_folds=int(self.cv_folds), seed=self.seed, n_lambda=self.n_lambda,
                                 lambda_min_ratio=self.lambda_min_ratio, columns=position[significant],
                                 fold_columns=(lambda train: position[fold_columns(train)]) if inside else None)

    def _radscore_coefficients(self, notes: list) -> tuple[float, pd.Series]:
        """Every Radscore variant (``radscore_variants_``) and the chosen one's (intercept, coef)."""
        variants = {"refit": (self.refit_intercept_, self.refit_coef_)}
        if self.lasso_ is not None:
            for choice, index in (("lasso_min", self.lasso_.index_min), ("lasso_1se", self.lasso_.index_1se)):
                coef = self.lasso_.path.coef_at(index)
                top = self._top(coef[coef != 0])
                if top:
                    variants[choice] = (float(self.lasso_.path.intercept[index]), coef[top].rename("coef"))
        self.radscore_variants_ = variants
        if self.radscore_coef not in variants:
            raise ValueError(f"radiomics selection: no non-zero LASSO coefficient at lambda_"
                             f"{self.radscore_coef.removeprefix('lasso_')} for the Radscore")
        return variants[self.radscore_coef]

    def transform(self, X: pd.DataFrame, missing: str = "raise") -> pd.DataFrame:
        """z-scored selected features (patients x top_k) with the training means and SDs.

        missing: "raise" (ValueError naming features and patients) or "nan" (kept as NaN).
        """
        check_is_fitted(self, "coef_")
        return self._z(X, self.selected_, missing)

    def _z(self, X: pd.DataFrame, features: list[str], missing: str) -> pd.DataFrame:
        absent = [f for f in features if f not in X.columns]
        if absent:
            raise ValueError(f"feature column(s) missing: {absent}")
        sub = X[features].astype(float)
        if missing == "raise" and sub.isna().any().any():
            bad = {f: sub.index[sub[f].isna()].tolist()[:10] for f in sub.columns if sub[f].isna().any()}
            raise ValueError(f"missing feature values (feature: patients): {bad}")
        return (sub - self.means_[features]) / self.sds_[features]

    def radscore(self, X: pd.DataFrame, missing: str = "raise") -> pd.Series:
        """Radscore (log-odds scale) per patient: intercept + sum coef * z."""
        Z = self.transform(X, missing=missing)
        return (self.intercept_ + Z @ self.coef_).rename("radscore")

    def radscores(self, X: pd.DataFrame, missing: str = "raise") -> pd.DataFrame:
        """Every Radscore variant per patient (columns refit, lasso_min, lasso_1se where defined)."""
        check_is_fitted(self, "coef_")
        return pd.DataFrame({name: intercept + self._z(X, list(coef.index), missing) @ coef
                             for name, (intercept, coef) in self.radscore_variants_.items()})

    @property
    def radscore_formula_(self) -> str:
        check_is_fitted(self, "coef_")
        terms = "".join(f" {'-' if c < 0 else '+'} {abs(c):.4f} * {f}(z)" for f, c in self.coef_.items())
        return f"Radscore = {self.intercept_:.4f}{terms}"

    @property
    def summary(self) -> pd.DataFrame:
        """Selected features: feature, region, name, coef (Radscore), lasso_coef,
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
            "radscore_variants": {name: {"intercept": b0, "coef": coef.to_dict()}
                                  for name, (b0, coef) in self.radscore_variants_.items()},
            "lambda": self.lambda_,
            "lambda_min": self.lambda_min_,
            "lambda_1se": self.lambda_1se_,
            "lasso_cv": self.lasso_table_,
            "lasso_path": self.lasso_path_,
            "radscore_method": self.radscore_method_,
            "icc": self.icc_ if getattr(self, "icc_", None) is not None else {},
            "dropped_nan": list(self.dropped_nan_),
            "dropped_constant": list(self.dropped_constant_),
            "warnings": list(self.warnings_),
            "n_train": self.n_train_,
        }
        return jsonable(out)

    @classmethod
    def from_dict(cls, d: dict) -> "RadiomicsSelector":
        """Rebuild a selector that scores new cohorts (transform, radscore) from ``to_dict``."""
        params = {k: v for k, v in d["params"].items() if k in cls._get_param_names()}
        obj = cls(**params)
        sel = pd.DataFrame(d["selected"])
        obj.selected_ = sel["feature"].tolist()
        obj.coef_ = pd.Series(sel["coef"].to_numpy(float), index=obj.selected_, name="coef")
        obj.lasso_coef_ = pd.Series(sel["lasso_coef"].to_numpy(float), index=obj.selected_)
        obj.univariate_p_ = pd.Series(sel["univariate_p"].to_numpy(float), index=obj.selected_)
        obj.means_ = pd.Series(sel["mean"].to_numpy(float), index=obj.selected_)
        obj.sds_ = pd.Series(sel["sd"].to_numpy(float), index=obj.selected_)
        obj.intercept_ = float(d["intercept"])
        obj.radscore_variants_ = {obj.radscore_coef: (obj.intercept_, obj.coef_)}
        obj.lambda_, obj.lambda_min_, obj.lambda_1se_ = d["lambda"], d["lambda_min"], d["lambda_1se"]
        obj.counts_ = OrderedDict(d["counts"])
        obj.warnings_ = list(d["warnings"])
        obj.dropped_nan_, obj.dropped_constant_ = list(d["dropped_nan"]), list(d["dropped_constant"])
        obj.n_train_ = d["n_train"]
        obj.lasso_table_ = pd.DataFrame(d["lasso_cv"])
        obj.lasso_path_ = pd.DataFrame(d["lasso_path"])
        obj.radscore_method_ = d["radscore_method"]
        return obj
