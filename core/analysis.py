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
from typing import Callable

import numpy as np
import pandas as pd
from scipy.special import expit

from core.analysis_params import BOOTSTRAP_MODES, AnalysisParams, choose_clinical_predictors
from core.harmonisation import Harmonisation
from core.internal_validation import BootstrapResult, bootstrap_validation
from core.models.three import MODEL_NAMES, ThreeModels
from core.stats._json import jsonable
from core.stats.calibration import (calibration_curve, calibration_metrics, hosmer_lemeshow, lowess_calibration,
                                    quick_performance)
from core.stats.clinical import MultivariateResult, UnivariateResult
from core.stats.decision import decision_curve, decision_curve_bands
from core.stats.roc import auc_delong, classification_metrics, delong_test, roc_curve

COMPARISONS = (("combined", "clinical"), ("combined", "radiomics"), ("radiomics", "clinical"))
__all__ = ["AnalysisParams", "AnalysisResult", "BOOTSTRAP_MODES", "evaluate_cohort", "run_analysis"]


@dataclass
class AnalysisResult:
    """Everything the analysis produced; ``to_dict`` gives the JSON-able form.

    metrics: one row per (centre, model); comparisons: one row per (centre, comparison);
    predictions: {centre: DataFrame(outcome, radscore, clinical, radiomics, combined)};
    curves: {centre: {"roc": {model: DataFrame}, "decision": DataFrame,
    "calibration": {model: {"grouped": DataFrame, "smoothed": DataFrame}}}};
    bootstrap: the internal validation (``core.internal_validation.BootstrapResult``: optimism,
    selection stability, Radscore variants), None without replicates; shrinkage: one row per
    (centre, Radscore variant) with AUC, calibration-in-the-large and slope of
    expit(Radscore) as a risk; timings: seconds per step.
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
    bootstrap: BootstrapResult | None
    shrinkage: pd.DataFrame
    cohorts: dict
    harmonisation: dict | None = None
    warnings: list[str] = field(default_factory=list)
    timings: dict = field(default_factory=dict)

    @property
    def nomogram(self):
        return self.models.nomogram_

    @property
    def optimism(self) -> pd.DataFrame:
        """The bootstrap's optimism table (empty without replicates)."""
        return self.bootstrap.optimism if self.bootstrap is not None else pd.DataFrame(
            columns=["model", "metric", "apparent", "optimism", "corrected", "n_boot", "n_failed"])

    def validation(self) -> dict:
        """How the training metrics were validated, for every page and the report to state."""
        p = self.params
        out = {"method": "bootstrap optimism (Harrell)" if self.bootstrap is not None else "none (apparent only)",
               "mode": p.bootstrap_refit, "replicates": p.bootstrap, "cv_selection": p.cv_selection,
               "radscore_coef": p.radscore_coef, "seed": p.seed}
        if self.bootstrap is not None:
            out.update(self.bootstrap.to_dict())
        return out

    def to_dict(self) -> dict:
        """Keys: params, training, cohorts, clinical (univariate, multivariate,
        independent_predictors, ...), radiomics (counts, selected, radscore_formula, ...),
        models.<name> (coefficients, method, cutoff, metrics.<centre>, optimism, warnings),
        comparisons.<centre>.<a>_vs_<b> (z, p, auc_a, auc_b, n), curves.<centre>,
        predictions.<centre>, fitted (ThreeModels.to_dict), nomogram, warnings, timings."""
        selector = self.models.selector_
        sel = selector.to_dict() if selector is not None else {}
        models = {}
        optimism = self.optimism
        for name, model in self.models.models_.items():
            rows = self.metrics[self.metrics["model"] == name]
            opt = optimism[optimism["model"] == name]
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
                "skipped": self.models.skipped_.get("radiomics"),
                "counts": sel.get("counts", {}),
                "selected": sel.get("selected", []),
                "radscore_formula": sel.get("radscore_formula", ""),
                "radscore_coef": self.params.radscore_coef,
                "radscore_variants": sel.get("radscore_variants", {}),
                "intercept": sel.get("intercept"),
                "lambda": sel.get("lambda"), "lambda_min": sel.get("lambda_min"), "lambda_1se": sel.get("lambda_1se"),
                "lambda_choice": self.params.lambda_choice,
                "cv_selection": self.params.cv_selection,
                "lasso_cv": sel.get("lasso_cv", []),
                "lasso_path": sel.get("lasso_path", []),
                "radscore_method": sel.get("radscore_method"),
                "dropped_nan": sel.get("dropped_nan", []), "dropped_constant": sel.get("dropped_constant", []),
                "warnings": sel.get("warnings", []),
            },
            "validation": self.validation(),
            "harmonisation": self.harmonisation,
            "shrinkage": self.shrinkage,
            "skipped_models": self.models.skipped_,
            "models": models,
            "comparisons": comparisons,
            "curves": self.curves,
            "predictions": {c: p.reset_index() for c, p in self.predictions.items()},
            "fitted": self.models.to_dict(),
            "nomogram": self.models.nomogram_.to_dict() if self.models.nomogram_ is not None else None,
            "warnings": self.warnings,
            "timings": self.timings,
        })


def _metrics(y: pd.Series, risk: pd.Series, cutoff: float, params: AnalysisParams,
             fitted_here: bool) -> tuple[dict, list[str]]:
    """Metrics of one model on one cohort (patients with a risk); ``fitted_here``: the model was
    fitted on this cohort (Hosmer-Lemeshow with g - 2 degrees of freedom, else g)."""
    scored = risk.notna() & y.notna()
    yy, rr = y[scored].to_numpy(dtype=int), risk[scored].to_numpy(dtype=float)
    out = {"n": int(scored.sum()), "n_events": int(yy.sum()), "n_excluded": int((~scored).sum())}
    if len(yy) == 0 or yy.min() == yy.max():
        return out, [f"{out['n']} scored patient(s) with {out['n_events']} event(s): one outcome class, "
                     "discrimination and calibration not computed"]
    auc = auc_delong(yy, rr, level=params.level)
    cal = calibration_metrics(yy, rr, level=params.level)
    hl = hosmer_lemeshow(yy, rr, params.hl_groups, fitted_here=fitted_here)
    out.update({"auc": auc["auc"], "auc_var": auc["var"], "auc_ci_low": auc["ci_low"], "auc_ci_high": auc["ci_high"]})
    out.update(classification_metrics(yy, rr, cutoff))
    out.update({"brier": cal["brier"], "calibration_intercept": cal["citl"],
                "calibration_intercept_ci_low": cal["citl_ci_low"], "calibration_intercept_ci_high": cal["citl_ci_high"],
                "recalibration_intercept": cal["recalibration_intercept"],
                "recalibration_intercept_ci_low": cal["recalibration_intercept_ci_low"],
                "recalibration_intercept_ci_high": cal["recalibration_intercept_ci_high"],
                "calibration_slope": cal["slope"], "calibration_slope_ci_low": cal["slope_ci_low"],
                "calibration_slope_ci_high": cal["slope_ci_high"], "oe_ratio": cal["oe_ratio"],
                "hl_chi2": hl["chi2"], "hl_df": hl["df"], "hl_p": hl["p"], "hl_df_rule": hl["df_rule"]})
    return out, []


def _curves(y: pd.Series, pred: pd.DataFrame, params: AnalysisParams) -> dict:
    """ROC and calibration per model on its scored patients; decision curves on the patients every
    model scored, so that the models and treat-all are compared on the same people."""
    roc, calibration, decision = {}, {}, None
    names = _scored_models(pred)
    common = pred[names].notna().all(axis=1) & y.notna()
    y_common = y[common].to_numpy(dtype=int)
    for name in names:
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


def _scored_models(pred: pd.DataFrame) -> list[str]:
    """The models with a risk for at least one patient (a skipped model has none)."""
    return [m for m in MODEL_NAMES if m in pred and pred[m].notna().any()]


def _comparisons(y: pd.Series, pred: pd.DataFrame) -> dict:
    out = {}
    names = _scored_models(pred)
    for a, b in COMPARISONS:
        if a not in names or b not in names:
            continue
        ok = pred[a].notna() & pred[b].notna() & y.notna()
        yy = y[ok].to_numpy(dtype=int)
        row = {"model_a": a, "model_b": b, "n": int(ok.sum())}
        if len(yy) and yy.min() != yy.max():
            row.update(delong_test(yy, pred.loc[ok, a].to_numpy(), pred.loc[ok, b].to_numpy()))
        out[f"{a}_vs_{b}"] = row
    return out


def evaluate_cohort(y: pd.Series, predictions: pd.DataFrame, cutoffs: dict, params: AnalysisParams, *,
                    fitted_here: bool = False) -> dict:
    """Evaluate the three models on one cohort.

    y: outcome by patient_id (NaN allowed); predictions: risks by patient_id with a column per
    model (as ``ThreeModels.predict``); cutoffs: {model: cut-off on the risk scale} of the
    models that were fitted (the others are left out); fitted_here: the models were fitted on
    this cohort (its Hosmer-Lemeshow test then has g - 2 degrees of freedom, else g).
    Returns {"metrics": {model: {...}}, "comparisons": {"<a>_vs_<b>": DeLong on the patients
    scored by both}, "curves": {"roc", "decision", "calibration"}, "notes": [...]}.
    """
    metrics, notes = {}, []
    for name in (m for m in MODEL_NAMES if m in cutoffs):
        metrics[name], issues = _metrics(y, predictions[name], cutoffs[name], params, fitted_here)
        notes += [f"{name} model: {i}" for i in issues]
    return {"metrics": metrics, "comparisons": _comparisons(y, predictions),
            "curves": _curves(y, predictions, params), "notes": notes}


def _cohort_frames(name: str, cohort) -> tuple[pd.DataFrame, pd.DataFrame]:
    if isinstance(cohort, dict):
        return cohort["clinical"], cohort["features"]
    if isinstance(cohort, (tuple, list)) and len(cohort) == 2:
        return cohort[0], cohort[1]
    raise TypeError(f"cohort {name!r} must be a (clinical, features) pair or a dict with those keys")


def run_analysis(train_clinical: pd.DataFrame, train_features: pd.DataFrame, cohorts: dict | None = None, *,
                 train_name: str = "training", retest_features: pd.DataFrame | None = None,
                 params: AnalysisParams | None = None, train_centres: pd.Series | None = None,
                 progress: Callable[[int, int], None] | None = None,
                 should_stop: Callable[[], bool] | None = None, **overrides) -> AnalysisResult:
    """Run the paper's analysis; ``cohorts`` maps centre name -> (clinical, features).

    Parameters are an ``AnalysisParams`` and/or keyword overrides of its fields
    (e.g. ``top_k=10, spearman=0.8, lambda_choice="min", seed=1, bootstrap=200``).
    retest_features: a further feature extraction (or a list of them: another reader's masks,
    perturbed masks) of (some) training patients for the ICC filter, repeated in the bootstrap.
    train_centres: the centre of each training patient (by patient_id) when several centres are
    pooled for training (ComBat's batches with ``harmonise``); default one centre, ``train_name``.
    progress(done, total) reports bootstrap replicates; should_stop() true stops the run
    (ValueError) between replicates.
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
    batches = (train_centres.reindex(train_features.index) if train_centres is not None
               else pd.Series(train_name, index=train_features.index)).astype(str)
    events = int(clinical[outcome].sum())
    if min(events, len(clinical) - events) < 2:
        raise ValueError(f"training cohort {train_name!r} has {events} event(s) ({outcome} = 1) and "
                         f"{len(clinical) - events} non-event(s) with features: a model needs at least 2 of each "
                         f"(and LASSO's {params.cv_folds}-fold cross-validation at least {params.cv_folds} of each)")

    timings, start = {}, time.perf_counter()
    clock = start
    raw = {train_name: train_features, **{k: _cohort_frames(k, v)[1] for k, v in cohorts.items()}}
    harmonised, harmonisation = raw, None
    if params.harmonise:
        harmonisation = Harmonisation.fit(features, batches.loc[train_ids])
        harmonised, harmonise_notes = _harmonise(harmonisation, raw, batches, train_name)
        notes += harmonise_notes
        features = harmonised[train_name].loc[train_ids]
        timings["harmonisation"] = time.perf_counter() - clock
    univariate, multivariate, predictors, clinical_notes = choose_clinical_predictors(clinical, params)
    notes += clinical_notes
    timings["clinical_tables"] = time.perf_counter() - clock
    clock = time.perf_counter()
    models = ThreeModels(selector=params.selector(), method=params.method,
                         categorical=list(params.categorical) if params.categorical else None).fit(
        clinical, features, predictors=predictors, outcome=outcome, X_retest=retest_features)
    if not models.models_:
        raise ValueError("neither a clinical nor a radiomics model could be fitted: "
                         + "; ".join(sorted(set(models.skipped_.values()))))
    selection = models.selector_.timings_ if models.selector_ is not None else {}
    timings.update({f"radiomics_{k}": v for k, v in selection.items()})
    timings["three_models"] = time.perf_counter() - clock - sum(selection.values())
    notes += models.warnings_
    clock = time.perf_counter()

    metric_rows, comparison_rows, predictions, curves, cohort_info = [], [], {}, {}, {}
    every = {name: (clin, harmonised[name]) for name, (clin, _) in
             {train_name: (train_clinical, None), **{k: _cohort_frames(k, v) for k, v in cohorts.items()}}.items()}
    for centre, (clin, feats) in every.items():
        y = clin[outcome]
        pred = models.predict(clin, feats)
        predictions[centre] = pd.concat([y, pred], axis=1).rename_axis("patient_id")
        cohort_info[centre] = {"n_patients": len(clin), "n_with_outcome": int(y.notna().sum()),
                               "n_events": int((y == 1).sum()),
                               "n_with_features": int(clin.index.isin(feats.index).sum())}
        evaluation = evaluate_cohort(y, pred, models.cutoffs_, params, fitted_here=centre == train_name)
        metric_rows += [{"centre": centre, "model": m, **v} for m, v in evaluation["metrics"].items()]
        comparison_rows += [{"centre": centre, "comparison": c, **v} for c, v in evaluation["comparisons"].items()]
        curves[centre] = evaluation["curves"]
        notes += [f"{centre}, {n}" for n in evaluation["notes"]]
    metrics = pd.DataFrame(metric_rows)
    timings["evaluation"] = time.perf_counter() - clock

    shrinkage = _shrinkage(models, every, outcome)

    bootstrap = None
    if params.bootstrap:
        clock = time.perf_counter()
        refit = params.harmonise and batches.loc[train_ids].nunique() > 1      # one centre: ComBat changes nothing
        bootstrap = bootstrap_validation(models, clinical, train_features.loc[train_ids] if refit else features,
                                         params, batches=batches.loc[train_ids] if refit else None,
                                         retest=retest_features,
                                         progress=progress, should_stop=should_stop)
        timings["bootstrap"] = time.perf_counter() - clock
        for _, r in bootstrap.optimism.iterrows():
            at = (metrics["centre"] == train_name) & (metrics["model"] == r["model"])
            metrics.loc[at, f"{r['metric']}_corrected"] = r["corrected"]
        if bootstrap.n_failed:
            notes.append(f"bootstrap: {bootstrap.n_failed} of {params.bootstrap} replicates failed (one outcome "
                         "class drawn, or a fit broke down) and were skipped")
        for model, count in bootstrap.fallbacks.items():
            notes.append(f"bootstrap: in {count} of {bootstrap.n_boot} replicates the procedure built no {model} "
                         "model (nothing passed its selection); the replicate's fallback was scored")
        unstable = bootstrap.stability[bootstrap.stability["in_radscore"] & (bootstrap.stability["frequency"] < 0.5)]
        if len(unstable):
            notes.append(f"selection stability: {len(unstable)} of the Radscore's {len(models.selector_.selected_)} "
                         "features were selected in fewer than half of the bootstrap replicates")

    return AnalysisResult(
        params=params, train_name=train_name, univariate=univariate, multivariate=multivariate,
        independent_predictors=list(predictors), models=models, metrics=metrics,
        comparisons=pd.DataFrame(comparison_rows), predictions=predictions, curves=curves,
        bootstrap=bootstrap, shrinkage=shrinkage, cohorts=cohort_info, warnings=notes,
        harmonisation=harmonisation.describe(raw, harmonised, {name: batches if name == train_name else pd.Series(
            name, index=frame.index) for name, frame in raw.items()}) if harmonisation is not None else None,
        timings={**timings, "total": time.perf_counter() - start})


CV_SELECTION_TEXT = {"inside": "Feature filters refitted inside each LASSO CV fold.",
                     "outside": "Feature filters applied once before LASSO's CV (as the paper; the CV deviance is "
                                "optimistic)."}
RADSCORE_TEXT = {"refit": "unpenalised refit of the top-k features (as the paper)",
                 "lasso_min": "the LASSO's shrunken coefficients at lambda.min",
                 "lasso_1se": "the LASSO's shrunken coefficients at lambda.1se"}


def describe_validation(result: dict) -> str:
    """How an analysis' training numbers were validated (``AnalysisResult.to_dict()`` form, or a
    stored one), in plain words for the pages, the command line and the report."""
    params = result.get("params") or {}
    v = result.get("validation") or {}
    mode = v.get("mode", params.get("bootstrap_refit", "final"))
    replicates = int(v.get("replicates", params.get("bootstrap", 0)) or 0)
    if not replicates:
        text = "Training metrics are apparent only (no bootstrap): they flatter the models."
    else:
        done = v.get("n_boot")
        text = (f"Internal validation: bootstrap optimism correction (Harrell), {replicates} replicates"
                + (f" ({done} usable)" if done is not None and done != replicates else "")
                + (", every fitted step (clinical and radiomics selection included) repeated in each."
                   if mode == "full" else
                   ", final models only with the selected features held fixed: optimistic, since the "
                   "selection's own variance is not seen."))
    text += " " + CV_SELECTION_TEXT[params.get("cv_selection", "outside")]
    return text + f" Radscore: {RADSCORE_TEXT[params.get('radscore_coef', 'refit')]}."


def _harmonise(harmonisation: Harmonisation, raw: dict[str, pd.DataFrame], batches: pd.Series,
              train_name: str) -> tuple[dict[str, pd.DataFrame], list[str]]:
    """Every cohort's harmonised features: the training centres by their fitted batches (patients
    with incomplete features get NaN), every other centre from its own features."""
    train = raw[train_name].reindex(columns=harmonisation.features)
    complete = train.notna().all(axis=1)
    out = {train_name: pd.DataFrame(np.nan, index=train.index, columns=harmonisation.features)}
    out[train_name].loc[complete] = harmonisation.training(train.loc[complete], batches.loc[complete]).to_numpy()
    notes = [f"harmonisation: ComBat on {len(harmonisation.features)} feature(s) complete and varying within every "
             f"training centre (reference {harmonisation.reference})"]
    for name, feats in raw.items():
        if name != train_name:
            out[name], note = harmonisation.new_centre(feats)
            if note:
                notes.append(f"{name}, harmonisation: {note}")
    return out, notes


def _shrinkage(models: ThreeModels, cohorts: dict, outcome: str) -> pd.DataFrame:
    """Each Radscore variant used directly as a risk, expit(Radscore), on every cohort: n, AUC,
    calibration-in-the-large and slope (what the unpenalised refit costs, beside the LASSO's
    shrunken coefficients)."""
    columns = ["centre", "variant", "n", "auc", "calibration_intercept", "calibration_slope", "brier"]
    if models.selector_ is None:
        return pd.DataFrame(columns=columns)
    rows = []
    for centre, (clin, feats) in cohorts.items():
        y = clin[outcome]
        scores = models.selector_.radscores(feats.reindex(clin.index), missing="nan")
        for variant, score in scores.items():
            ok = score.notna() & y.notna()
            yy = y[ok].to_numpy(dtype=int)
            if len(yy) == 0 or yy.min() == yy.max():
                continue
            perf = quick_performance(yy, expit(score[ok].to_numpy(dtype=float)))
            rows.append({"centre": centre, "variant": variant, "n": int(ok.sum()), **perf})
    return pd.DataFrame(rows, columns=columns)


def preview_selection(train_clinical: pd.DataFrame, train_features: pd.DataFrame,
                      params: AnalysisParams | None = None, retest_features=None, **overrides) -> dict:
    """The radiomics selection alone, for exploring thresholds: fast, nothing stored.

    retest_features: further measurements for the ICC filter (as ``run_analysis``). Returns the
    selector's ``to_dict()`` (counts, selected, LASSO path and CV, Radscore, ICC),
    plus ``apparent_auc`` (with DeLong CI) of the Radscore on the training patients, ``n``
    and ``n_events``; or {"error": message} when no feature survives.
    """
    params = replace(params or AnalysisParams(), **overrides)
    y = train_clinical[params.outcome]
    ids = y.index[y.notna()].intersection(train_features.index, sort=False)
    y = y.loc[ids].astype(int)
    try:
        selector = params.selector().fit(train_features.loc[ids], y, retest_features)
    except ValueError as exc:
        return {"error": str(exc), "n": len(ids), "n_events": int(y.sum())}
    auc = auc_delong(y.to_numpy(), selector.radscore(train_features.loc[ids]).to_numpy(), level=params.level)
    return {**selector.to_dict(), "timings": dict(selector.timings_), "n": len(ids), "n_events": int(y.sum()),
            "apparent_auc": auc["auc"], "apparent_auc_ci": [auc["ci_low"], auc["ci_high"]]}
