"""ComBat harmonisation of features by centre (Johnson et al. 2007; Fortin et al. 2018).

Location/scale model per feature g, patient j of centre i: x_ijg = loc_g + scale_g * z_ijg with
z_ijg = gamma_ig + sqrt(delta_ig) * e_ijg. The features are standardised, z = (x - loc) / scale,
by the frame's location and scale:
- reference-batch ComBat (``ref_batch``): the reference centre's mean and variance (divided by
  n); its features are left unchanged and every other centre is brought to it;
- otherwise: the grand mean and the pooled within-centre variance (divided by n) of the
  fitted centres, which are all moved.
Each centre's gamma (mean of z) and delta (variance of z, divided by n - 1) are then shrunk by
empirical Bayes across the features: parametric (normal prior on gamma, inverse-gamma on
delta, solved by sva's iteration) or non-parametric (sva's int.eprior, each feature weighted
by the likelihood of the others' estimates). Harmonised: loc + scale * (z - gamma*) /
sqrt(delta*). The conventions (``CONVENTIONS``) are sva::ComBat's (sva 3.46), which
neuroCombat follows; inmoose's pycombat_norm divides delta, the variance of gamma and the
hyper-prior moments by n instead and so differs.

A centre's estimates depend only on its own features and the frame's location and scale.
So a validating centre is harmonised without the training data (``harmonise_new_centre``)
from what ``ComBat.to_dict`` ships, and with reference-batch ComBat the result equals a joint
fit of the reference and the new centre. Without a reference the new centre is brought to
the training centres' grand mean and pooled variance (a joint refit would move that frame).
The empirical Bayes step pools across the features harmonised together: harmonise the same
feature set as at training for the same result.

Refused with a ValueError naming features, patients or centres: missing or infinite values,
a feature constant within the reference centre (or within every centre), a feature constant
within a centre whose scale is estimated (not with mean_only), a centre of fewer than
MIN_PATIENTS patients. The non-parametric likelihoods are computed in log space, so they
stay finite where sva's underflow (large centres), with sva's results elsewhere.

Biological covariates are not supported: ComBat also removes real differences in case mix
between centres. The outcome must never be a covariate nor a column of the features:
harmonisation then leaks it into every feature, and a validating centre never has its
outcomes read (``harmonise_new_centre`` takes features only).
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator
from sklearn.utils.validation import check_is_fitted

from core.stats._json import jsonable

MIN_PATIENTS = 3
"""Fewest patients of a centre whose location and scale ComBat estimates."""
CONVERGENCE = 1e-4
MAX_ITERATIONS = 10_000
PARAMS_VERSION = 1
CONVENTIONS = {
    "standardisation": "reference centre: its mean and variance (divided by n); otherwise the grand "
                       "mean and the pooled within-centre variance (divided by n), as sva::ComBat",
    "delta_hat": "variance of the standardised features within the centre, divided by n - 1",
    "hyper_priors": "gamma_bar, t2: mean and variance (n - 1) of gamma_hat across features; inverse-gamma "
                    "a, b by the method of moments of delta_hat across features (variance n - 1)",
    "parametric_iteration": f"sva's it.sol until max(|g_new - g_old| / g_old, |d_new - d_old| / d_old) "
                            f"<= {CONVERGENCE}",
    "nonparametric": "sva's int.eprior, leave-one-feature-out likelihood weights, computed in log space",
    "mean_only": "delta = 1; parametric gamma* = (t2 * gamma_hat + gamma_bar) / (t2 + 1), as sva",
    "min_patients": MIN_PATIENTS,
}
"""How the fitted parameters are defined and a new centre's are estimated (shipped in to_dict)."""
_CHUNK = 256  # rows of the features x features likelihood matrix computed at once


class ComBat(BaseEstimator):
    """Location/scale ComBat by centre, optionally with a reference centre.

    parametric: parametric (True) or non-parametric empirical Bayes priors; eb: shrink the
    centre estimates by empirical Bayes (False: use gamma_hat, delta_hat); mean_only: adjust
    the location only; ref_batch: the reference centre's label, whose features are left
    unchanged. Centres are compared as strings. No biological covariates (module docstring).

    Fitted: feature_names_, centres_ (labels, sorted), n_patients_ (per centre), location_,
    scale_ (per feature: the standardisation, scale = sqrt(variance)), gamma_hat_, delta_hat_,
    gamma_star_, delta_star_ (DataFrames centres x features; the reference's star values
    are 0 and 1, its hat values NaN), priors_ (centres x gamma_bar, t2, a_prior, b_prior).
    """

    def __init__(self, parametric: bool = True, eb: bool = True, mean_only: bool = False, ref_batch=None):
        self.parametric = parametric
        self.eb = eb
        self.mean_only = mean_only
        self.ref_batch = ref_batch

    def fit(self, X: pd.DataFrame, batch) -> "ComBat":
        """Fit on the training patients' features X (patients x features, numeric, no NaN)
        and ``batch``, their centre (one label per row of X; a Series is matched by index)."""
        values, features = _feature_matrix(X)
        centre = _centre_labels(batch, X.index)
        ref = self._reference()
        counts = centre.value_counts().sort_index()
        if ref is not None and ref not in counts.index:
            raise ValueError(f"ref_batch {ref!r} is not among the centres {counts.index.tolist()}")
        if ref is None and len(counts) < 2:
            raise ValueError(f"ComBat without ref_batch needs two or more centres, got {counts.index.tolist()}; "
                             "with one training centre pass it as ref_batch")
        _check_sizes(counts)
        codes = centre.to_numpy()
        if ref is not None:
            rows = values[codes == ref]
            location = rows.mean(axis=0)
            variance = ((rows - location) ** 2).mean(axis=0)
            spread = np.ptp(rows, axis=0)
            where = f"the reference centre {ref!r}"
        else:
            means = {c: values[codes == c].mean(axis=0) for c in counts.index}
            location = values.mean(axis=0)  # the n-weighted mean of the centre means
            variance = ((values - np.vstack([means[c] for c in codes])) ** 2).mean(axis=0)
            spread = np.max([np.ptp(values[codes == c], axis=0) for c in counts.index], axis=0)
            where = "every centre"
        _check_varies(spread, features, f"is constant within {where}; ComBat cannot standardise it "
                                            "(remove constant features first)")
        self.feature_names_ = features
        self.centres_ = counts.index.tolist()
        self.n_patients_ = {c: int(n) for c, n in counts.items()}
        self.location_ = pd.Series(location, index=features, name="location")
        self.scale_ = pd.Series(np.sqrt(variance), index=features, name="scale")
        estimates = {c: (_centre_estimates(self._standardise(values[codes == c]), c, features, self.get_params())
                         if c != ref else _reference_estimates(len(features))) for c in self.centres_}
        frame = {key: pd.DataFrame({c: est[key] for c, est in estimates.items()}, index=features).T
                 for key in ("gamma_hat", "delta_hat", "gamma_star", "delta_star")}
        self.gamma_hat_, self.delta_hat_ = frame["gamma_hat"], frame["delta_hat"]
        self.gamma_star_, self.delta_star_ = frame["gamma_star"], frame["delta_star"]
        self.priors_ = pd.DataFrame({c: est["priors"] for c, est in estimates.items()}).T
        return self

    def _reference(self) -> str | None:
        return None if self.ref_batch is None else str(self.ref_batch)

    def _standardise(self, values: np.ndarray) -> np.ndarray:
        return (values - self.location_.to_numpy()) / self.scale_.to_numpy()

    def _restore(self, z: np.ndarray) -> np.ndarray:
        return self.location_.to_numpy() + self.scale_.to_numpy() * z

    def transform(self, X: pd.DataFrame, batch) -> pd.DataFrame:
        """Harmonised features (X's index, the fitted features) of patients of fitted centres,
        with those centres' fitted estimates; the reference centre's are returned unchanged.
        A centre not fitted is refused: use ``harmonise_new_centre(combat.to_dict(), X)``."""
        check_is_fitted(self, "gamma_star_")
        values, features = _feature_matrix(X, self.feature_names_)
        centre = _centre_labels(batch, X.index)
        unknown = sorted(set(centre) - set(self.centres_))
        if unknown:
            raise ValueError(f"centre(s) {unknown} were not fitted (fitted: {self.centres_}); harmonise a new "
                             "centre from its own features with harmonise_new_centre(combat.to_dict(), X)")
        codes = centre.to_numpy()
        gamma = self.gamma_star_.loc[codes].to_numpy()
        delta = self.delta_star_.loc[codes].to_numpy()
        out = self._restore((self._standardise(values) - gamma) / np.sqrt(delta))
        reference = codes == self._reference()
        out[reference] = values[reference]
        return pd.DataFrame(out, index=X.index, columns=features)

    def fit_transform(self, X: pd.DataFrame, batch) -> pd.DataFrame:
        return self.fit(X, batch).transform(X, batch)

    @property
    def summary(self) -> pd.DataFrame:
        """One row per centre and feature: centre, feature, n, reference (bool), gamma_hat,
        delta_hat, gamma_star, delta_star (standardised units)."""
        check_is_fitted(self, "gamma_star_")
        parts = {key: getattr(self, f"{key}_").stack() for key in ("gamma_hat", "delta_hat", "gamma_star",
                                                                    "delta_star")}
        out = pd.DataFrame(parts).rename_axis(["centre", "feature"]).reset_index()
        out.insert(2, "n", out["centre"].map(self.n_patients_))
        out.insert(3, "reference", out["centre"] == self._reference())
        return out

    def to_dict(self) -> dict:
        """JSON-able parameters a bundle carries (no patient data): the settings, CONVENTIONS,
        per feature the frame's location and scale, and per fitted centre n, gamma* and delta*."""
        check_is_fitted(self, "gamma_star_")
        return jsonable({
            "method": "ComBat", "version": PARAMS_VERSION, "params": self.get_params(),
            "conventions": CONVENTIONS,
            "reference": self._reference(),
            "features": list(self.feature_names_),
            "location": self.location_.to_numpy(), "scale": self.scale_.to_numpy(),
            "centres": {c: {"n": self.n_patients_[c], "gamma_star": self.gamma_star_.loc[c].to_numpy(),
                            "delta_star": self.delta_star_.loc[c].to_numpy()} for c in self.centres_},
        })

    @classmethod
    def from_dict(cls, params: Mapping) -> "ComBat":
        """A ComBat that transforms patients of the fitted centres again, from ``to_dict``
        (the hat estimates and priors, which are not shipped, are NaN)."""
        features = _checked_params(params)
        obj = cls(**params["params"])
        obj.feature_names_ = features
        obj.centres_ = list(params["centres"])
        obj.n_patients_ = {c: int(v["n"]) for c, v in params["centres"].items()}
        obj.location_ = pd.Series(np.asarray(params["location"], float), index=features, name="location")
        obj.scale_ = pd.Series(np.asarray(params["scale"], float), index=features, name="scale")
        obj.gamma_star_, obj.delta_star_ = (pd.DataFrame({c: np.asarray(v[key], float)
                                                          for c, v in params["centres"].items()}, index=features).T
                                            for key in ("gamma_star", "delta_star"))
        obj.gamma_hat_ = obj.delta_hat_ = pd.DataFrame(np.nan, index=obj.centres_, columns=features)
        obj.priors_ = pd.DataFrame(np.nan, index=obj.centres_, columns=["gamma_bar", "t2", "a_prior", "b_prior"])
        return obj


def _new_centre(params: Mapping, X_new: pd.DataFrame) -> tuple[list[str], np.ndarray, dict]:
    """A new centre's features, standardised in the shipped frame, and its estimates."""
    features = _checked_params(params)
    values, _ = _feature_matrix(X_new, features)
    _check_sizes(pd.Series({"new centre": len(values)}))
    z = (values - np.asarray(params["location"], float)) / np.asarray(params["scale"], float)
    return features, z, _centre_estimates(z, "new centre", features, params["params"])


def new_centre_estimates(params: Mapping, X_new: pd.DataFrame) -> pd.DataFrame:
    """A new centre's ComBat estimates from its features alone (patients x features; at least
    the features of ``params``, extra columns ignored) and the shipped ``params``
    (``ComBat.to_dict()``). Returns DataFrame indexed by feature: gamma_hat, delta_hat,
    gamma_star, delta_star (standardised units), and the priors gamma_bar, t2, a_prior,
    b_prior (the same for every feature)."""
    features, _, est = _new_centre(params, X_new)
    out = pd.DataFrame({key: est[key] for key in ("gamma_hat", "delta_hat", "gamma_star", "delta_star")},
                       index=pd.Index(features, name="feature"))
    return out.assign(**est["priors"])


def harmonise_new_centre(params: Mapping, X_new: pd.DataFrame) -> pd.DataFrame:
    """A validating centre's harmonised features (X_new's index, the features of ``params``),
    from its features alone and the shipped ``params`` (``ComBat.to_dict()``): its gamma and
    delta are estimated with empirical Bayes on its own features (``new_centre_estimates``),
    then it is brought into the training frame. Its outcomes are never needed nor read.
    Needs MIN_PATIENTS or more patients (a single patient of a training centre is harmonised
    with ``ComBat.from_dict(params).transform``)."""
    features, z, est = _new_centre(params, X_new)
    location, scale = np.asarray(params["location"], float), np.asarray(params["scale"], float)
    adjusted = (z - est["gamma_star"]) / np.sqrt(est["delta_star"])
    return pd.DataFrame(location + scale * adjusted, index=X_new.index, columns=features)


def shift_table(before: pd.DataFrame, after: pd.DataFrame, batch, reference=None) -> pd.DataFrame:
    """Per centre and feature, how far the centre sits from the others before and after
    harmonisation.

    before, after: features of the same patients (same index; after's columns, all in before,
    are compared); batch: each patient's centre. smd: standardised mean difference (Cohen's d)
    of the centre against all other patients, or against the ``reference`` centre when given
    (whose own rows are then omitted): (mean_c - mean_o) / pooled SD (n - 1); sd_ratio:
    SD_c / SD_o. Columns: centre, feature, n, smd_before, smd_after, sd_ratio_before,
    sd_ratio_after; NaN where the pooled SD is 0. Sorted by centre, then |smd_before| down.
    """
    if not before.index.equals(after.index):
        raise ValueError("before and after must hold the same patients in the same order (their indexes differ)")
    absent = [f for f in after.columns if f not in before.columns]
    if absent:
        raise ValueError(f"feature column(s) of after missing from before: {absent[:10]}")
    features = list(after.columns)
    values = {"before": _feature_matrix(before, list(after.columns))[0], "after": _feature_matrix(after)[0]}
    centre = _centre_labels(batch, before.index).to_numpy()
    centres = sorted(set(centre))
    if reference is not None and str(reference) not in centres:
        raise ValueError(f"reference {reference!r} is not among the centres {centres}")
    if len(centres) < 2:
        raise ValueError(f"a shift table needs two or more centres, got {centres}")
    rows = []
    for c in centres:
        if reference is not None and c == str(reference):
            continue
        inside = centre == c
        other = centre == str(reference) if reference is not None else ~inside
        row = {"centre": c, "feature": features, "n": int(inside.sum())}
        for when, x in values.items():
            row[f"smd_{when}"], row[f"sd_ratio_{when}"] = _smd(x[inside], x[other])
        rows.append(pd.DataFrame(row))
    out = pd.concat(rows, ignore_index=True)
    order = out.assign(_abs=out["smd_before"].abs()).sort_values(["centre", "_abs"], ascending=[True, False],
                                                                  kind="mergesort", na_position="last")
    return order.drop(columns="_abs").reset_index(drop=True)[["centre", "feature", "n", "smd_before", "smd_after",
                                                              "sd_ratio_before", "sd_ratio_after"]]


def most_shifted(shifts: pd.DataFrame, top: int = 6) -> list[str]:
    """The ``top`` features of a ``shift_table`` with the largest |smd_before| in any centre."""
    if top < 1:
        raise ValueError(f"top must be >= 1, got {top}")
    worst = shifts.assign(_abs=shifts["smd_before"].abs()).groupby("feature", sort=False)["_abs"].max()
    return worst.sort_values(ascending=False, kind="mergesort").index[:top].tolist()


def _smd(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Cohen's d of columns of a against b (pooled SD, n - 1) and the SD ratio a / b."""
    na, nb = len(a), len(b)
    va, vb = a.var(axis=0, ddof=1), b.var(axis=0, ddof=1)
    pooled = np.sqrt(((na - 1) * va + (nb - 1) * vb) / (na + nb - 2))
    with np.errstate(divide="ignore", invalid="ignore"):
        smd = np.where(pooled > 0, (a.mean(axis=0) - b.mean(axis=0)) / pooled, np.nan)
        ratio = np.where(vb > 0, np.sqrt(va / vb), np.nan)
    return smd, ratio


# ------------------------------------------------------------------------- estimation
def _reference_estimates(n_features: int) -> dict:
    nan = np.full(n_features, np.nan)
    return {"gamma_hat": nan, "delta_hat": nan, "gamma_star": np.zeros(n_features),
            "delta_star": np.ones(n_features), "priors": dict.fromkeys(("gamma_bar", "t2", "a_prior", "b_prior"),
                                                                       np.nan)}


def _centre_estimates(z: np.ndarray, centre: str, features: list[str], settings: Mapping) -> dict:
    """gamma/delta hat and star of one centre's standardised features z (patients x features)
    and its priors, under settings parametric, eb, mean_only."""
    n, n_features = z.shape
    gamma_hat = z.mean(axis=0)
    if settings["mean_only"]:
        delta_hat = np.ones(n_features)
    else:
        _check_varies(np.ptp(z, axis=0), features, f"is constant within centre {centre!r}; ComBat cannot estimate its "
                                             "scale (remove it, or use mean_only=True)")
        delta_hat = z.var(axis=0, ddof=1)
    priors = dict.fromkeys(("gamma_bar", "t2", "a_prior", "b_prior"), np.nan)
    if not settings["eb"]:
        return {"gamma_hat": gamma_hat, "delta_hat": delta_hat, "gamma_star": gamma_hat, "delta_star": delta_hat,
                "priors": priors}
    if n_features < 2:
        raise ValueError("empirical Bayes ComBat pools its priors across features and needs two or more; "
                         "use eb=False for a single feature")
    priors.update(gamma_bar=gamma_hat.mean(), t2=gamma_hat.var(ddof=1))
    if not settings["parametric"]:
        gamma_star, delta_star = _nonparametric(z, gamma_hat, delta_hat)
    elif settings["mean_only"]:
        t2 = priors["t2"]
        gamma_star, delta_star = (t2 * gamma_hat + priors["gamma_bar"]) / (t2 + 1), delta_hat
    else:
        m, s2 = delta_hat.mean(), delta_hat.var(ddof=1)
        if not s2 > 0:
            raise ValueError(f"centre {centre!r}: every feature has the same within-centre variance, so the "
                             "inverse-gamma prior is undefined; use parametric=False or eb=False")
        priors.update(a_prior=(2 * s2 + m**2) / s2, b_prior=(m * s2 + m**3) / s2)
        gamma_star, delta_star = _parametric(z, gamma_hat, delta_hat, **priors)
    if settings["mean_only"]:
        delta_star = np.ones(n_features)
    return {"gamma_hat": gamma_hat, "delta_hat": delta_hat, "gamma_star": gamma_star, "delta_star": delta_star,
            "priors": {k: float(v) for k, v in priors.items()}}


def _parametric(z, gamma_hat, delta_hat, *, gamma_bar, t2, a_prior, b_prior) -> tuple[np.ndarray, np.ndarray]:
    """sva's it.sol: alternate the posterior mean of gamma and of delta until the largest
    relative change (sva's signed ratio) is at most CONVERGENCE."""
    n = z.shape[0]
    g_old, d_old = gamma_hat, delta_hat
    for _ in range(MAX_ITERATIONS):
        g_new = (t2 * n * gamma_hat + d_old * gamma_bar) / (t2 * n + d_old)
        sum2 = ((z - g_new) ** 2).sum(axis=0)
        d_new = (0.5 * sum2 + b_prior) / (n / 2 + a_prior - 1)
        with np.errstate(divide="ignore", invalid="ignore"):
            change = max(np.max(np.abs(g_new - g_old) / g_old), np.max(np.abs(d_new - d_old) / d_old))
        g_old, d_old = g_new, d_new
        if not change > CONVERGENCE:
            return g_new, d_new
    raise RuntimeError(f"parametric ComBat did not converge in {MAX_ITERATIONS} iterations")


def _nonparametric(z, gamma_hat, delta_hat) -> tuple[np.ndarray, np.ndarray]:
    """sva's int.eprior: feature i's gamma*, delta* are the other features' gamma_hat,
    delta_hat weighted by the normal likelihood of feature i's values under them."""
    n, n_features = z.shape
    within = ((z - gamma_hat) ** 2).sum(axis=0)  # sum (z_i - g)^2 = within_i + n (mean_i - g)^2
    log_norm = -0.5 * n * np.log(2 * np.pi * delta_hat)
    gamma_star, delta_star = np.empty(n_features), np.empty(n_features)
    for start in range(0, n_features, _CHUNK):
        rows = np.arange(start, min(start + _CHUNK, n_features))
        sum2 = within[rows, None] + n * (gamma_hat[rows, None] - gamma_hat[None, :]) ** 2
        log_lh = log_norm[None, :] - sum2 / (2 * delta_hat[None, :])
        log_lh[np.arange(len(rows)), rows] = -np.inf
        weight = np.exp(log_lh - log_lh.max(axis=1, keepdims=True))
        total = weight.sum(axis=1)
        gamma_star[rows] = weight @ gamma_hat / total
        delta_star[rows] = weight @ delta_hat / total
    return gamma_star, delta_star


# ------------------------------------------------------------------------------ checks
def _feature_matrix(X, features: Sequence[str] | None = None) -> tuple[np.ndarray, list[str]]:
    """X's features (all columns, or ``features`` in that order) as a float array, checked."""
    if not isinstance(X, pd.DataFrame):
        raise TypeError(f"features must be a DataFrame (patients x features), got {type(X).__name__}")
    if features is not None:
        absent = [f for f in features if f not in X.columns]
        if absent:
            raise ValueError(f"{len(absent)} feature column(s) missing: {absent[:10]}")
        X = X[list(features)]
    if X.shape[1] == 0 or X.shape[0] == 0:
        raise ValueError(f"features must hold patients and features, got shape {X.shape}")
    named = [c for c in X.columns if not isinstance(c, str)]
    if named:
        raise ValueError(f"feature column names must be strings, got {named[:5]}")
    if X.columns.duplicated().any():
        raise ValueError(f"duplicated feature column(s): {X.columns[X.columns.duplicated()].tolist()[:10]}")
    text = [c for c in X.columns if not pd.api.types.is_numeric_dtype(X[c])]
    if text:
        raise ValueError(f"feature column(s) are not numeric: {text[:10]} (dtype {X[text[0]].dtype})")
    values = X.to_numpy(dtype=float)
    bad = ~np.isfinite(values)
    if bad.any():
        where = {str(X.columns[j]): X.index[bad[:, j]].tolist()[:5] for j in np.flatnonzero(bad.any(axis=0))[:10]}
        raise ValueError(f"missing or infinite feature values (feature: patients): {where}; ComBat needs "
                         "complete features (impute or drop them first)")
    return values, list(X.columns)


def _centre_labels(batch, index: pd.Index) -> pd.Series:
    """Each patient's centre as a string Series on ``index`` (a Series is matched by index)."""
    if isinstance(batch, pd.Series):
        missing = index.difference(batch.index)
        if len(missing):
            raise ValueError(f"batch lacks the centre of patient(s) {missing.tolist()[:10]}")
        batch = batch.reindex(index)
    labels = pd.Series(np.asarray(batch, dtype=object), dtype=object)
    if labels.ndim != 1 or len(labels) != len(index):
        raise ValueError(f"length mismatch: {len(index)} patients in the features, {len(labels)} centres in batch")
    absent = labels.isna().to_numpy()
    if absent.any():
        raise ValueError(f"batch has no centre for patient(s) {index[absent].tolist()[:10]}")
    return pd.Series(labels.astype(str).to_numpy(), index=index, name="centre")


def _check_sizes(counts: pd.Series) -> None:
    small = counts[counts < MIN_PATIENTS]
    if len(small):
        raise ValueError(f"ComBat needs at least {MIN_PATIENTS} patients per centre to estimate its location and "
                         f"scale; too few in {small.to_dict()}")


def _check_varies(spread: np.ndarray, features: list[str], problem: str) -> None:
    """ValueError naming the features whose range (max - min) is 0."""
    zero = np.flatnonzero(~(spread > 0))
    if len(zero):
        names = [features[j] for j in zero]
        raise ValueError(f"{len(names)} feature(s) {problem}: {names[:10]}")


def _checked_params(params: Mapping) -> list[str]:
    """The features of shipped ComBat parameters, after checking their form."""
    if not isinstance(params, Mapping) or params.get("method") != "ComBat":
        raise ValueError("params must be ComBat.to_dict()'s output (a mapping with method 'ComBat')")
    if params.get("version") != PARAMS_VERSION:
        raise ValueError(f"ComBat parameters of version {params.get('version')!r}; this code reads version "
                         f"{PARAMS_VERSION}")
    features = [str(f) for f in params["features"]]
    for key in ("location", "scale"):
        if len(params[key]) != len(features):
            raise ValueError(f"ComBat parameters: {len(params[key])} {key} values for {len(features)} features")
    scale = np.asarray(params["scale"], dtype=float)
    if not (np.isfinite(np.asarray(params["location"], dtype=float)).all() and (scale > 0).all()):
        raise ValueError("ComBat parameters: location must be finite and scale positive for every feature")
    return features
