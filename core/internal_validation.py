"""Internal validation by the bootstrap: Harrell's optimism, every fitted step repeated.

For b = 1..B, n training patients are drawn with replacement and the model-building
procedure runs on the draw. ``"full"`` (the default) repeats all of it, as ``rms::validate``
repeats its fitting function: the clinical selection (univariate and multivariate P), the
radiomics selection (z-scores, Spearman and univariate filters, LASSO with its
cross-validation, top-k), the Radscore and the three models. ``"final"`` holds the selected
features and clinical predictors fixed and refits only the z-scores, Radscore coefficients
and models: faster, and optimistic, since the selection's own variance goes unseen.

Each replicate's models are scored on the draw (apparent_b) and on the original patients
(test_b); optimism = mean(apparent_b - test_b), corrected = apparent - optimism, for AUC,
calibration intercept and slope and Brier score. When the procedure cannot build a model
on a draw (no clinical variable or no feature passes), that replicate's model is the one the
procedure gives there: intercept-only for the clinical or radiomics model, and the combined
model falls back to whichever part was built (counted in ``fallbacks``).

The bootstrap also records which features each replicate's Radscore selected (selection
stability) and the performance of every Radscore variant (refit and LASSO coefficients) used
directly as a risk, so the cost of the unpenalised refit is visible.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Callable

import numpy as np
import pandas as pd
from scipy.special import expit

from core.analysis_params import AnalysisParams, choose_clinical_predictors
from core.models.three import MODEL_NAMES, ThreeModels
from core.stats.calibration import quick_performance
from core.stats.ranks import ColumnRanks

CHUNK = 5          # replicates per task sent to a worker
Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class BootstrapResult:
    """optimism: model, metric, apparent, optimism, corrected, n_boot (replicates used),
    n_failed; stability: feature, frequency (share of replicates whose Radscore selected it),
    in_radscore (selected by the reported fit); variants: variant, metric, apparent, optimism,
    corrected (each Radscore variant used as a risk, expit(radscore)); fallbacks: {model:
    replicates in which the procedure could not build it}."""

    mode: str
    n_boot: int
    n_failed: int
    optimism: pd.DataFrame
    stability: pd.DataFrame
    variants: pd.DataFrame
    fallbacks: dict

    def to_dict(self) -> dict:
        return {"mode": self.mode, "n_boot": self.n_boot, "n_failed": self.n_failed, "optimism": self.optimism,
                "stability": self.stability, "variants": self.variants, "fallbacks": self.fallbacks}


@dataclass(frozen=True)
class _Procedure:
    """What a replicate needs: the training patients (complete for every fitted model), the
    parameters and, for the final mode, the reported fit's choices."""

    clinical: pd.DataFrame
    features: pd.DataFrame
    params: AnalysisParams
    predictors: tuple[str, ...]
    selected: tuple[str, ...]
    fitted: tuple[str, ...]
    batches: pd.Series | None = None      # training centres, when each replicate refits ComBat
    retest: tuple[pd.DataFrame, ...] = ()  # further measurements of the features for the ICC filter

    @property
    def y(self) -> np.ndarray:
        return self.clinical[self.params.outcome].to_numpy(dtype=int)


def bootstrap_validation(models: ThreeModels, clinical: pd.DataFrame, features: pd.DataFrame,
                         params: AnalysisParams, *, batches: pd.Series | None = None,
                         retest: "pd.DataFrame | list[pd.DataFrame] | None" = None, progress: Progress | None = None,
                         should_stop: Callable[[], bool] | None = None) -> BootstrapResult:
    """Optimism of the fitted ``models`` on their training patients (``clinical``, ``features``,
    indexed by patient_id; with ``batches``, the patients' training centres, the features are
    the raw ones and each replicate refits ComBat first), ``params.bootstrap`` replicates drawn with ``params.seed``, in
    ``params.workers`` processes. ``progress(done, total)`` after each batch of replicates;
    ``should_stop()`` true ends the run early (ValueError: the result would be partial)."""
    pred = models.train_predictions_
    fitted = tuple(m for m in MODEL_NAMES if m in models.models_)
    ids = pred.index[pred[list(fitted)].notna().all(axis=1)]
    procedure = _Procedure(clinical.loc[ids], features.loc[ids], params, tuple(models.predictors_),
                           tuple(models.selector_.selected_) if models.selector_ is not None else (), fitted,
                           batches.loc[ids] if batches is not None else None,
                           tuple(retest) if isinstance(retest, (list, tuple)) else (() if retest is None else (retest,)))
    y = procedure.y
    samples = np.random.default_rng(params.seed).integers(0, len(y), (params.bootstrap, len(y)))
    replicates = _run(procedure, samples, progress, should_stop)
    apparent = {name: quick_performance(y, pred.loc[ids, name].to_numpy(dtype=float)) for name in fitted}
    scored = procedure.features if batches is None else _harmonised(procedure, np.arange(len(y)))
    variants = {} if models.selector_ is None else {
        v: quick_performance(y, expit(s.to_numpy(dtype=float)))
        for v, s in models.selector_.radscores(scored).items()}
    return _summarise(procedure, apparent, variants, replicates, models)


def _run(procedure: _Procedure, samples: np.ndarray, progress: Progress | None,
         should_stop: Callable[[], bool] | None) -> list[dict | None]:
    """Replicate results in the order of ``samples``; local processes when there are several cores."""
    from core.jobs import default_workers, run_cases

    total = len(samples)
    chunks = [(str(i), (procedure, samples[i:i + CHUNK])) for i in range(0, total, CHUNK)]
    workers = min(procedure.params.workers or default_workers(), len(chunks))
    results: dict[int, list] = {}
    if workers <= 1:
        for key, args in chunks:
            if should_stop is not None and should_stop():
                break
            results[int(key)] = replicate_chunk(*args)
            if progress is not None:
                progress(sum(map(len, results.values())), total)
    else:
        for outcome in run_cases(replicate_chunk, chunks, workers=workers, should_stop=should_stop):
            if not outcome.ok:
                raise RuntimeError(f"bootstrap replicates {outcome.case_id}+: {outcome.error}")
            results[int(outcome.case_id)] = outcome.value
            if progress is not None:
                progress(sum(map(len, results.values())), total)
    if sum(map(len, results.values())) < total:
        raise ValueError(f"bootstrap stopped after {sum(map(len, results.values()))} of {total} replicates")
    return [r for key in sorted(results) for r in results[key]]


def replicate_chunk(procedure: _Procedure, samples: np.ndarray) -> list[dict | None]:
    """Worker side: several replicates (rows of ``samples``: patient positions drawn)."""
    ranks = ColumnRanks(procedure.features.to_numpy(float))
    return [_replicate(procedure, positions, ranks) for positions in samples]


def _intercept_only(y: np.ndarray, w: np.ndarray) -> float:
    return float(w @ y / w.sum())


def _replicate(procedure: _Procedure, positions: np.ndarray, ranks: ColumnRanks) -> dict | None:
    """Build the models on the drawn patients and score them on the draw and on everyone.

    Returns {"boot": {model: perf}, "test": {model: perf}, "fallbacks": [...],
    "selected": [...], "variants": {variant: (boot perf, test perf)}}, or None when the draw
    has one outcome class or a fit breaks down (counted as failed).
    """
    params, y = procedure.params, procedure.y
    if y[positions].min() == y[positions].max():
        return None
    w = np.bincount(positions, minlength=len(y)).astype(float)
    features = procedure.features
    try:
        if procedure.batches is not None:
            features, ranks = _harmonised(procedure, positions), None
        if params.bootstrap_refit == "full":
            drawn = procedure.clinical.iloc[positions].reset_index(drop=True)
            predictors = choose_clinical_predictors(drawn, params, profile=False)[2]
            selector = params.selector()
        else:
            predictors = list(procedure.predictors)
            selector = params.selector(list(procedure.selected) if procedure.selected else None)
        models = ThreeModels(selector=selector, method=params.method,
                             categorical=list(params.categorical) if params.categorical else None,
                             profile=False)
        models.fit(procedure.clinical, features, predictors=predictors, outcome=params.outcome,
                   X_retest=list(procedure.retest) or None,
                   sample_weight=w, column_ranks=ranks if params.bootstrap_refit == "full" else None, lean=True)
        risks = models.predict(procedure.clinical, features)
    except (ValueError, np.linalg.LinAlgError):
        return None
    fallbacks = []
    base = _intercept_only(y, w)
    for name in ("clinical", "radiomics"):
        if name in procedure.fitted and name not in models.models_:
            risks[name] = base
            fallbacks.append(name)
    if "combined" in procedure.fitted and "combined" not in models.models_:
        part = next((m for m in ("clinical", "radiomics") if m in models.models_), None)
        risks["combined"] = risks[part] if part else base
        fallbacks.append("combined")
    out = {"boot": {}, "test": {}, "fallbacks": fallbacks, "variants": {},
           "selected": list(models.selector_.selected_) if models.selector_ is not None else []}
    for name in procedure.fitted:
        r = risks[name].to_numpy(dtype=float)
        out["boot"][name] = quick_performance(y[positions], r[positions])
        out["test"][name] = quick_performance(y, r)
    if models.selector_ is not None:
        for variant, score in models.selector_.radscores(features).items():
            r = expit(score.to_numpy(dtype=float))
            out["variants"][variant] = (quick_performance(y[positions], r[positions]), quick_performance(y, r))
    return out


def _harmonised(procedure: _Procedure, positions: np.ndarray) -> pd.DataFrame:
    """Every training patient's features harmonised by ComBat refitted on the drawn patients."""
    from core.harmonisation import Harmonisation

    drawn = procedure.features.iloc[positions].reset_index(drop=True)
    harmonisation = Harmonisation.fit(drawn, procedure.batches.iloc[positions].reset_index(drop=True))
    return harmonisation.training(procedure.features, procedure.batches)


def _optimism(apparent: dict, boots: list[dict], tests: list[dict], key: str) -> list[dict]:
    """Rows of optimism per (name, metric): apparent {name: perf}, boots/tests per replicate."""
    rows = []
    for name, perf in apparent.items():
        for metric, value in perf.items():
            diffs = np.array([b[name][metric] - t[name][metric] for b, t in zip(boots, tests)
                              if name in b and name in t], dtype=float)
            ok = np.isfinite(diffs)
            optimism = float(diffs[ok].mean()) if ok.any() else float("nan")
            rows.append({key: name, "metric": metric, "apparent": value, "optimism": optimism,
                         "corrected": value - optimism, "n_boot": int(ok.sum())})
    return rows


def _summarise(procedure: _Procedure, apparent: dict, apparent_variants: dict, replicates: list[dict | None],
               models: ThreeModels) -> BootstrapResult:
    params = procedure.params
    done = [r for r in replicates if r is not None]
    n_failed = len(replicates) - len(done)
    optimism = pd.DataFrame(_optimism(apparent, [r["boot"] for r in done], [r["test"] for r in done],
                                      "model")).assign(n_failed=n_failed)
    variants = pd.DataFrame(_optimism(
        apparent_variants, [{v: b for v, (b, _) in r["variants"].items()} for r in done],
        [{v: t for v, (_, t) in r["variants"].items()} for r in done], "variant"))
    counts = Counter(f for r in done for f in r["selected"])
    reported = set(models.selector_.selected_) if models.selector_ is not None else set()
    if params.bootstrap_refit == "full" and done:
        stability = pd.DataFrame(
            [{"feature": f, "frequency": counts.get(f, 0) / len(done), "in_radscore": f in reported}
             for f in sorted(set(counts) | reported)], columns=["feature", "frequency", "in_radscore"])
        stability = stability.sort_values(["frequency", "feature"], ascending=[False, True], ignore_index=True)
    else:
        stability = pd.DataFrame(columns=["feature", "frequency", "in_radscore"])
    fallbacks = dict(Counter(m for r in done for m in r["fallbacks"]))
    return BootstrapResult(params.bootstrap_refit, len(done), n_failed, optimism, stability, variants, fallbacks)
