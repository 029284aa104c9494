"""The whole paper analysis from DataFrames: clinical tables, radiomics selection, the three
models, their evaluation on every cohort, bootstrap optimism and the nomogram.

    result = run_analysis(train_clinical, train_features, {"Centre B": (clin_b, feat_b)})
    result.to_dict()        # JSON-able: see AnalysisResult.to_dict

Pure: DataFrames in, a result object out; no files, no database. Only the training cohort is
used to fit anything (clinical variable choice, z-scores, selection, coefficients, cut-offs,
nomogram scales); other cohorts are only scored.

Inputs: a clinical DataFrame indexed by patient_id with the 0/1 outcome column and clinical
columns (categorical ones as strings or 0/1), and a wide features DataFrame indexed by
patient_id with "region:feature" columns. Training patients need an outcome and a features
row; a patient of another cohort lacking an outcome, a predictor or features gets no risk
for the models concerned and is left out of their metrics (counted in ``n_excluded``).
"""
from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field, replace

import numpy as np
import pandas as pd

from core.models.three import MODEL_NAMES, ThreeModels
from core.stats._json import jsonable
from core.stats.bootstrap import optimism_bootstrap
from core.stats.calibration import calibration_curve, calibration_metrics, hosmer_lemeshow, lowess_calibration
from core.stats.clinical import MultivariateResult, UnivariateResult, multivariate_logistic, univariate_table
from core.stats.decision import DEFAULT_THRESHOLDS, decision_curve, decision_curve_bands
from core.stats.roc import auc_delong, classification_metrics, delong_test, roc_curve
from core.stats.selection import RadiomicsSelector

COMPARISONS = (("combined", "clinical"), ("combined", "radiomics"), ("radiomics", "clinical"))
BOOTSTRAP_MODES = ("final", "full")


@dataclass(frozen=True)
class AnalysisParams:
    """Every choice of the analysis. Thresholds are P values unless named otherwise.

    clinical_variables: candidate clinical columns (default: all but the outcome);
    clinical_predictors: skip the clinical selection and use these; bootstrap: number of
    replicates for optimism (0 = none); bootstrap_refit: "final" refits the z-scores,
    Radscore model and the three logistic models on each replicate with the selected
    features and clinical predictors fixed, "full" reruns the whole selection (slow);
    dca_bootstrap: replicates for net-benefit bands (0 = none).
    """
    outcome: str = "ptlf"
    clinical_variables: tuple[str, ...] | None = None
    categorical: tuple[str, ...] | None = None
    clinical_p: float = 0.05
    multivariate_p: float = 0.05
    clinical_predictors: tuple[str, ...] | None = None
    icc_threshold: float = 0.75
    icc_kind: str = "ICC(2,1)"
    spearman: float = 0.8
    univariate_p: float = 0.05
    top_k: int = 10
    lambda_choice: str = "min"
    cv_folds: int = 10
    n_lambda: int = 100
    lambda_min_ratio: float | None = None
    method: str = "auto"
    seed: int = 0
    bootstrap: int = 200
    bootstrap_refit: str = "final"
    dca_thresholds: tuple[float, ...] = tuple(DEFAULT_THRESHOLDS.tolist())
    dca_bootstrap: int = 0
    calibration_bins: int = 10
    hl_groups: int = 10
    level: float = 0.95

    def selector(self, fixed_features: list[str] | None = None) -> RadiomicsSelector:
        return RadiomicsSelector(
            icc_threshold=self.icc_threshold, icc_kind=self.icc_kind, spearman_threshold=self.spearman,
            univariate_p=self.univariate_p, top_k=self.top_k, lambda_choice=self.lambda_choice,
            cv_folds=self.cv_folds, n_lambda=self.n_lambda, lambda_min_ratio=self.lambda_min_ratio,
            seed=self.seed, method=self.method, fixed_features=fixed_features)


@dataclass
class AnalysisResult:
    """Everything the analysis produced; ``to_dict`` gives the JSON-able form.

    metrics: one row per (centre, model); comparisons: one row per (centre, comparison);
    predictions: {centre: DataFrame(outcome, radscore, clinical, radiomics, combined)};
    curves: {centre: {"roc": {model: DataFrame}, "decision": DataFrame,
    "calibration": {model: {"grouped": DataFrame, "smoothed": DataFrame}}}};
    optimism: bootstrap table (model, metric, apparent, optimism, corrected, ...);
    timings: seconds per step.
    """
    params: AnalysisParams
    train_name: str
    univariate: UnivariateResult
    multivariate: MultivariateResult | None
    independent_predictors: list[str]
    models: ThreeModels
    metrics: pd.DataFrame
    comparisons: pd.DataFrame
    predictions: dict
    curves: dict
    optimism: pd.DataFrame
    cohorts: dict
    warnings: list[str] = field(default_factory=list)
    timings: dict = field(default_factory=dict)

    @property
    def nomogram(self):
        return self.models.nomogram_

    def to_dict(self) -> dict:
        """Keys: params, training, cohorts, clinical (univariate, multivariate,
        independent_predictors, ...), radiomics (counts, selected, radscore_formula, ...),
        models.<name> (coefficients, method, cutoff, metrics.<centre>, optimism, warnings),
        comparisons.<centre>.<a>_vs_<b> (z, p, auc_a, auc_b, n), curves.<centre>,
        predictions.<centre>, fitted (ThreeModels.to_dict), nomogram, warnings, timings."""
        selector = self.models.selector_
        sel = selector.to_dict()
        models = {}
        for name, model in self.models.models_.items():
            rows = self.metrics[self.metrics["model"] == name]
            opt = self.optimism[self.optimism["model"] == name] if len(self.optimism) else self.optimism
            models[name] = {
                "predictors": model.predictors_,
                "coefficients": model.summary,
                "method": model.method_,
                "n_obs": model.n_obs_,
                "cutoff": self.models.cutoffs_[name],
                "metrics": {r["centre"]: r.drop(["centre", "model"]).to_dict() for _, r in rows.iterrows()},
                "optimism": {r["metric"]: r.drop(["model", "metric"]).to_dict() for _, r in opt.iterrows()},
                "warnings": model.warnings_,
            }
        comparisons = {}
        for _, r in self.comparisons.iterrows():
            comparisons.setdefault(r["centre"], {})[r["comparison"]] = r.drop(["centre", "comparison"]).to_dict()
        multivariate = self.multivariate.to_dict() if self.multivariate is not None else None
        return jsonable({
            "params": asdict(self.params),
            "training": {"name": self.train_name, **self.cohorts[self.train_name]},
            "cohorts": self.cohorts,
            "clinical": {
                "univariate": self.univariate.summary,
                "univariate_groups": {"labels": list(self.univariate.labels), "n": self.univariate.n},
                "multivariate": multivariate["rows"] if multivariate else [],
                "multivariate_details": {k: v for k, v in (multivariate or {}).items() if k != "rows"},
                "independent_predictors": self.independent_predictors,
            },
            "radiomics": {
                "counts": sel["counts"],
                "selected": sel["selected"],
                "radscore_formula": sel["radscore_formula"],
                "intercept": sel["intercept"],
                "lambda": sel["lambda"], "lambda_min": sel["lambda_min"], "lambda_1se": sel["lambda_1se"],
                "lambda_choice": self.params.lambda_choice,
                "lasso_cv": sel["lasso_cv"],
                "lasso_path": sel["lasso_path"],
                "radscore_method": sel["radscore_method"],
                "dropped_nan": sel["dropped_nan"], "dropped_constant": sel["dropped_constant"],
                "warnings": sel["warnings"],
            },
            "models": models,
            "comparisons": comparisons,
            "curves": self.curves,
            "predictions": {c: p.reset_index() for c, p in self.predictions.items()},
            "fitted": self.models.to_dict(),
            "nomogram": self.models.nomogram_.to_dict(),
            "warnings": self.warnings,
            "timings": self.timings,
        })


def _choose_clinical_predictors(clinical: pd.DataFrame, params: AnalysisParams, *, profile: bool = True):
    """Univariate table, multivariate model on P < clinical_p, independent predictors."""
    variables = list(params.clinical_variables) if params.clinical_variables else [
        c for c in clinical.columns if c != params.outcome]
    categorical = list(params.categorical) if params.categorical else None
    univariate = univariate_table(clinical, params.outcome, variables, categorical=categorical)
    if params.clinical_predictors:
        return univariate, None, list(params.clinical_predictors)
    candidates = univariate.significant(params.clinical_p)
    if not candidates:
        raise ValueError(f"clinical selection: no clinical variable has univariate P < {params.clinical_p}; "
                         "the clinical model cannot be built (set clinical_predictors= to choose them)")
    multivariate = multivariate_logistic(clinical, params.outcome, candidates, categorical=categorical,
                                         alpha=params.multivariate_p, method=params.method,
                                         level=params.level, profile=profile)
    if not multivariate.independent_predictors:
        raise ValueError(f"clinical selection: no variable keeps P < {params.multivariate_p} in the "
                         f"multivariate model of {candidates} (set clinical_predictors= to choose them)")
    return univariate, multivariate, multivariate.independent_predictors


def _metrics(y: pd.Series, risk: pd.Series, cutoff: float, params: AnalysisParams) -> tuple[dict, list[str]]:
    """Metrics of one model on one cohort (patients with a risk)."""
    scored = risk.notna() & y.notna()
    yy, rr = y[scored].to_numpy(dtype=int), risk[scored].to_numpy(dtype=float)
    out = {"n": int(scored.sum()), "n_events": int(yy.sum()), "n_excluded": int((~scored).sum())}
    if len(yy) == 0 or yy.min() == yy.max():
        return out, [f"{out['n']} scored patient(s) with {out['n_events']} event(s): one outcome class, "
                     "discrimination and calibration not computed"]
    auc = auc_delong(yy, rr, level=params.level)
    cal = calibration_metrics(yy, rr, level=params.level)
    hl = hosmer_lemeshow(yy, rr, params.hl_groups)
    out.update({"auc": auc["auc"], "auc_var": auc["var"], "auc_ci_low": auc["ci_low"], "auc_ci_high": auc["ci_high"]})
    out.update(classification_metrics(yy, rr, cutoff))
    out.update({"brier": cal["brier"], "calibration_intercept": cal["intercept"],
                "calibration_intercept_ci_low": cal["intercept_ci_low"],
                "calibration_intercept_ci_high": cal["intercept_ci_high"],
                "calibration_slope": cal["slope"], "calibration_slope_ci_low": cal["slope_ci_low"],
                "calibration_slope_ci_high": cal["slope_ci_high"], "oe_ratio": cal["oe_ratio"],
                "hl_chi2": hl["chi2"], "hl_df": hl["df"], "hl_p": hl["p"]})
    return out, []


def _curves(y: pd.Series, pred: pd.DataFrame, params: AnalysisParams) -> dict:
    """ROC and calibration per model on its scored patients; decision curves on the patients every
    model scored, so that the models and treat-all are compared on the same people."""
    roc, calibration, decision = {}, {}, None
    common = pred[list(MODEL_NAMES)].notna().all(axis=1) & y.notna()
    y_common = y[common].to_numpy(dtype=int)
    for name in MODEL_NAMES:
        ok = pred[name].notna() & y.notna()
        yy, rr = y[ok].to_numpy(dtype=int), pred.loc[ok, name].to_numpy(dtype=float)
        if len(yy) == 0 or yy.min() == yy.max():
            continue
        roc[name] = roc_curve(yy, rr)[["threshold", "fpr", "tpr"]]
        calibration[name] = {"grouped": calibration_curve(yy, rr, params.calibration_bins),
                             "smoothed": lowess_calibration(yy, rr)}
        if y_common.min(initial=0) == y_common.max(initial=0):
            continue
        rc = pred.loc[common, name].to_numpy(dtype=float)
        if params.dca_bootstrap:
            dc = decision_curve_bands(y_common, rc, params.dca_thresholds, n_boot=params.dca_bootstrap,
                                      seed=params.seed, level=params.level)
        else:
            dc = decision_curve(y_common, rc, params.dca_thresholds)
        if decision is None:
            decision = dc[["threshold", "treat_all", "treat_none"]].copy()
        decision[name] = dc["net_benefit"].to_numpy()
        for band in ("net_benefit_low", "net_benefit_high"):
            if band in dc:
                decision[f"{name}_{band.removeprefix('net_benefit_')}"] = dc[band].to_numpy()
    return {"roc": roc, "decision": decision if decision is not None else pd.DataFrame(),
            "calibration": calibration}


def _comparisons(y: pd.Series, pred: pd.DataFrame) -> dict:
    out = {}
    for a, b in COMPARISONS:
        ok = pred[a].notna() & pred[b].notna() & y.notna()
        yy = y[ok].to_numpy(dtype=int)
        row = {"model_a": a, "model_b": b, "n": int(ok.sum())}
        if len(yy) and yy.min() != yy.max():
            row.update(delong_test(yy, pred.loc[ok, a].to_numpy(), pred.loc[ok, b].to_numpy()))
        out[f"{a}_vs_{b}"] = row
    return out


def evaluate_cohort(y: pd.Series, predictions: pd.DataFrame, cutoffs: dict, params: AnalysisParams) -> dict:
    """Evaluate the three models on one cohort.

    y: outcome by patient_id (NaN allowed); predictions: risks by patient_id with a column per
    model (as ``ThreeModels.predict``); cutoffs: {model: cut-off on the risk scale}.
    Returns {"metrics": {model: {...}}, "comparisons": {"<a>_vs_<b>": DeLong on the patients
    scored by both}, "curves": {"roc", "decision", "calibration"}, "notes": [...]}.
    """
    metrics, notes = {}, []
    for name in MODEL_NAMES:
        metrics[name], issues = _metrics(y, predictions[name], cutoffs[name], params)
        notes += [f"{name} model: {i}" for i in issues]
    return {"metrics": metrics, "comparisons": _comparisons(y, predictions),
            "curves": _curves(y, predictions, params), "notes": notes}


def _bootstrap(models: ThreeModels, clinical: pd.DataFrame, features: pd.DataFrame,
               params: AnalysisParams) -> pd.DataFrame:
    """Optimism of the three models on the training patients complete for all of them."""
    pred = models.train_predictions_
    ids = pred.index[pred[list(MODEL_NAMES)].notna().all(axis=1)]
    clin, feats = clinical.loc[ids], features.loc[ids]
    if params.bootstrap_refit == "final":           # only what the refits read
        clin, feats = clin[[params.outcome, *models.predictors_]], feats[models.selector_.selected_]
    y = clin[params.outcome].to_numpy(dtype=int)

    def fit(positions: np.ndarray):
        sample = pd.RangeIndex(len(positions))
        clin_b = clin.iloc[positions].set_axis(sample)
        feats_b = feats.iloc[positions].set_axis(sample)
        if params.bootstrap_refit == "full":
            predictors = _choose_clinical_predictors(clin_b, params, profile=False)[2]
            selector = params.selector()
        else:
            predictors, selector = models.predictors_, params.selector(models.selector_.selected_)
        refit = ThreeModels(selector=selector, method=params.method, categorical=models.categorical,
                            profile=False).fit(clin_b, feats_b, predictors=predictors, outcome=params.outcome)
        risks = refit.predict(clin, feats)
        return lambda pos: {m: risks[m].to_numpy()[pos] for m in MODEL_NAMES}

    return optimism_bootstrap(y, fit, n_boot=params.bootstrap, seed=params.seed)


def _cohort_frames(name: str, cohort) -> tuple[pd.DataFrame, pd.DataFrame]:
    if isinstance(cohort, dict):
        return cohort["clinical"], cohort["features"]
    if isinstance(cohort, (tuple, list)) and len(cohort) == 2:
        return cohort[0], cohort[1]
    raise TypeError(f"cohort {name!r} must be a (clinical, features) pair or a dict with those keys")


def run_analysis(train_clinical: pd.DataFrame, train_features: pd.DataFrame, cohorts: dict | None = None, *,
                 train_name: str = "training", retest_features: pd.DataFrame | None = None,
                 params: AnalysisParams | None = None, **overrides) -> AnalysisResult:
    """Run the paper's analysis; ``cohorts`` maps centre name -> (clinical, features).

    Parameters are an ``AnalysisParams`` and/or keyword overrides of its fields
    (e.g. ``top_k=10, spearman=0.8, lambda_choice="min", seed=1, bootstrap=200``).
    retest_features: a second feature extraction of (some) training patients for the ICC filter.
    """
    params = replace(params or AnalysisParams(), **overrides)
    if params.bootstrap_refit not in BOOTSTRAP_MODES:
        raise ValueError(f"bootstrap_refit must be one of {BOOTSTRAP_MODES}, got {params.bootstrap_refit!r}")
    cohorts = dict(cohorts or {})
    if train_name in cohorts:
        raise ValueError(f"cohort name {train_name!r} is the training cohort's name")
    outcome = params.outcome
    for name, (clin, feats) in {train_name: (train_clinical, train_features),
                                **{k: _cohort_frames(k, v) for k, v in cohorts.items()}}.items():
        if outcome not in clin.columns:
            raise ValueError(f"cohort {name!r}: outcome column {outcome!r} not found")
        values = pd.to_numeric(clin[outcome], errors="coerce")
        invalid = clin[outcome].notna() & ~values.isin([0, 1])
        if invalid.any():
            found = sorted(map(str, set(clin[outcome][invalid])))[:5]
            raise ValueError(f"cohort {name!r}: outcome {outcome!r} must be 0/1 (1 = event); patients "
                             f"{clin.index[invalid].tolist()[:10]} have {found}")
        for label, frame in (("clinical", clin), ("features", feats)):
            if not frame.index.is_unique:
                raise ValueError(f"cohort {name!r}: {label} index (patient_id) has duplicates")

    notes: list[str] = []
    has_outcome = train_clinical[outcome].notna()
    has_features = train_clinical.index.isin(train_features.index)
    train_ids = train_clinical.index[has_outcome & has_features]
    if not has_outcome.all() or not has_features.all():
        notes.append(f"training: {int((~has_outcome).sum())} patient(s) without outcome and "
                     f"{int((has_outcome & ~has_features).sum())} without radiomics features excluded")
    clinical = train_clinical.loc[train_ids]
    features = train_features.loc[train_ids]

    timings, start = {}, time.perf_counter()
    clock = start
    univariate, multivariate, predictors = _choose_clinical_predictors(clinical, params)
    timings["clinical_tables"] = time.perf_counter() - clock
    clock = time.perf_counter()
    models = ThreeModels(selector=params.selector(), method=params.method,
                         categorical=list(params.categorical) if params.categorical else None).fit(
        clinical, features, predictors=predictors, outcome=outcome, X_retest=retest_features)
    selection = models.selector_.timings_
    timings.update({f"radiomics_{k}": v for k, v in selection.items()})
    timings["three_models"] = time.perf_counter() - clock - sum(selection.values())
    notes += models.warnings_
    clock = time.perf_counter()

    metric_rows, comparison_rows, predictions, curves, cohort_info = [], [], {}, {}, {}
    every = {train_name: (train_clinical, train_features), **{k: _cohort_frames(k, v) for k, v in cohorts.items()}}
    for centre, (clin, feats) in every.items():
        y = clin[outcome]
        pred = models.predict(clin, feats)
        predictions[centre] = pd.concat([y, pred], axis=1).rename_axis("patient_id")
        cohort_info[centre] = {"n_patients": len(clin), "n_with_outcome": int(y.notna().sum()),
                               "n_events": int((y == 1).sum()),
                               "n_with_features": int(clin.index.isin(feats.index).sum())}
        evaluation = evaluate_cohort(y, pred, models.cutoffs_, params)
        metric_rows += [{"centre": centre, "model": m, **v} for m, v in evaluation["metrics"].items()]
        comparison_rows += [{"centre": centre, "comparison": c, **v} for c, v in evaluation["comparisons"].items()]
        curves[centre] = evaluation["curves"]
        notes += [f"{centre}, {n}" for n in evaluation["notes"]]
    metrics = pd.DataFrame(metric_rows)
    timings["evaluation"] = time.perf_counter() - clock

    optimism = pd.DataFrame()
    if params.bootstrap:
        clock = time.perf_counter()
        optimism = _bootstrap(models, clinical, features, params)
        timings["bootstrap"] = time.perf_counter() - clock
        for _, r in optimism.iterrows():
            at = (metrics["centre"] == train_name) & (metrics["model"] == r["model"])
            metrics.loc[at, f"{r['metric']}_corrected"] = r["corrected"]
        failed = int(optimism["n_failed"].max())
        if failed:
            notes.append(f"bootstrap: {failed} of {params.bootstrap} replicates failed and were skipped")

    return AnalysisResult(
        params=params, train_name=train_name, univariate=univariate, multivariate=multivariate,
        independent_predictors=list(predictors), models=models, metrics=metrics,
        comparisons=pd.DataFrame(comparison_rows), predictions=predictions, curves=curves,
        optimism=optimism, cohorts=cohort_info, warnings=notes,
        timings={**timings, "total": time.perf_counter() - start})
