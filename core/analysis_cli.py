"""The paper's analysis on a study: load the centres' tables, run it, store it; ``analyze`` verb.

``run_study_analysis`` is what the command line and the dashboard both call. Every centre
is read with the same mask source and extraction settings, so the features agree.
"""
from __future__ import annotations

import argparse
import json
import math
from datetime import datetime
from pathlib import Path
from typing import Any

import pandas as pd

from core.cli_types import SEED_MAX, integer, number, table_file
from core.store import Study, StudyError

JOB = "analysis"
MODELS = ("clinical", "radiomics", "combined")
MIN_PER_CLASS = 2          # patients with and without an event that the analysis needs at the least
UNINFORMATIVE_WIDTH = 0.5  # a 95% CI at least this wide (on a 0-1 scale) is reported as uninformative


def feature_set(study: Study, centers: list[str], mask_source: str | None = None,
                settings_hash: str | None = None) -> tuple[str, str]:
    """The (mask_source, settings_hash) whose features every centre in ``centers`` has.

    With several candidates, 'manual' masks win, then the set with most patients in the
    first centre; none gives a StudyError naming what each centre has.
    """
    sets = study.feature_sets()
    if mask_source is not None:
        sets = sets[sets["mask_source"] == mask_source]
    if settings_hash is not None:
        sets = sets[sets["settings_hash"] == settings_hash]
    common = None
    for center in centers:
        keys = set(map(tuple, sets.loc[sets["center"] == center, ["mask_source", "settings_hash"]].to_numpy()))
        common = keys if common is None else common & keys
    if not common:
        have = "; ".join(
            f"{c}: " + (", ".join(f"{m}/{p or s[:12]}" for m, s, p in
                                  study.feature_sets(c)[["mask_source", "settings_hash", "preset"]].to_numpy())
                        or "no features")
            for c in centers)
        wanted = f" from mask source {mask_source!r}" if mask_source else ""
        raise StudyError(f"no extraction{wanted} shared by centres {', '.join(centers)} ({have}); "
                         "run `python -m core extract` for each centre with the same preset and mask source")
    first = sets[sets["center"] == centers[0]].set_index(["mask_source", "settings_hash"])["patients"]
    return max(common, key=lambda k: (k[0] == "manual", first.get(k, 0)))


def study_cohort(study: Study, center: str, mask_source: str, settings_hash: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(clinical, features) of a centre as the analysis takes them (both indexed by patient_id)."""
    return study.clinical(center), study.features_wide(center, mask_source, settings_hash)


def run_study_analysis(study: Study, train: str, validate: list[str] | tuple[str, ...] = (), *,
                       mask_source: str | None = None, settings_hash: str | None = None,
                       **params: Any) -> str:
    """Run the analysis trained on ``train`` and scored on ``validate``; store it; return its id.

    ``params`` are fields of :class:`core.analysis.AnalysisParams` (top_k, spearman, ...). The inputs
    are checked first (centres, shared features, the training outcome): a refusal writes nothing.
    The run itself is recorded as an ``analysis`` job, so the dashboard's Jobs page shows it and its errors.
    """
    validate = [c for c in validate if c != train]
    for center in [train, *validate]:
        study.role(center)
    mask_source, settings_hash = feature_set(study, [train, *validate], mask_source, settings_hash)
    cohorts = {c: study_cohort(study, c, mask_source, settings_hash) for c in [train, *validate]}
    check_training_cohort(*cohorts[train], train, params)
    job_id = study.jobs.create(JOB, train, {"validate": validate, "mask_source": mask_source, **params}, total=1)
    try:
        analysis_id = _run(study, train, validate, mask_source, settings_hash, cohorts, params)
    except BaseException as exc:
        study.jobs.update(job_id, state="failed", failed=1, message=f"{type(exc).__name__}: {exc}"[:2000])
        raise
    study.jobs.update(job_id, state="done", done=1, message=f"analysis {analysis_id}")
    return analysis_id


def check_training_cohort(clinical: pd.DataFrame, features: pd.DataFrame, train: str,
                          params: dict[str, Any]) -> None:
    """ValueError when the training cohort cannot be analysed: too few events or non-events for the
    feature selection and LASSO's cross-validation, or clinical predictors it lacks."""
    from core.analysis import AnalysisParams

    p = AnalysisParams(**params)
    if p.outcome not in clinical.columns:
        raise ValueError(f"training centre {train!r} has no outcome column {p.outcome!r}")
    y = pd.to_numeric(clinical[p.outcome], errors="coerce")
    usable = y.notna() & clinical.index.isin(features.index)
    n, events = int(usable.sum()), int((y[usable] == 1).sum())
    others = n - events
    counts = (f"{_plural(events, 'event')} ({p.outcome} = 1) and {others} without among the {n} patients "
              "with an outcome and radiomics features")
    if min(events, others) < MIN_PER_CLASS:
        raise ValueError(f"training centre {train!r} has only {counts}: the analysis needs at least "
                         f"{MIN_PER_CLASS} patients with and {MIN_PER_CLASS} without an event to compare the "
                         "groups, select features and fit the models")
    if p.cv_folds > min(events, others):
        raise ValueError(f"training centre {train!r} has {counts}: LASSO's {p.cv_folds}-fold cross-validation "
                         f"needs at least {p.cv_folds} patients in the smaller group; lower the folds (--cv-folds) "
                         f"to {min(events, others)} or fewer")
    absent = [v for v in p.clinical_predictors or () if v not in clinical.columns]
    if absent:
        known = ", ".join(c for c in clinical.columns if c != p.outcome) or "none"
        raise ValueError(f"training centre {train!r} has no clinical variable {', '.join(absent)} "
                         f"(its variables: {known})")


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" + ("" if n == 1 else "s")


def _run(study: Study, train: str, validate: list[str], mask_source: str, settings_hash: str,
         cohorts: dict[str, tuple[pd.DataFrame, pd.DataFrame]], params: dict[str, Any]) -> str:
    from core.analysis import run_analysis

    clinical, features = cohorts[train]
    result = run_analysis(clinical, features, {c: cohorts[c] for c in validate}, train_name=train, **params)
    payload = result.to_dict()
    payload["data"] = {"study": study.path.name, "mask_source": mask_source, "settings_hash": settings_hash,
                       "extraction": study.settings(settings_hash),
                       "roles": {c: study.role(c) for c in [train, *validate]}}
    analysis_id = f"{train}-{datetime.now():%Y%m%d-%H%M%S-%f}"
    study.save_analysis(analysis_id, train, {"validate": validate, "mask_source": mask_source,
                                             "settings_hash": settings_hash, **params}, payload,
                        prediction_rows(result.predictions))
    return analysis_id


def prediction_rows(predictions: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """Long per-patient risks (center, patient_id, model, risk) of every cohort's predictions frame."""
    return pd.concat(
        [frame.reset_index().melt(id_vars=["patient_id"], value_vars=[m for m in MODELS if m in frame],
                                  var_name="model", value_name="risk").assign(center=center)
         for center, frame in predictions.items()], ignore_index=True)


def stored_warnings(result: dict[str, Any]) -> list[str]:
    """Every warning stored anywhere in a result (lists under a ``warnings`` key), each once.

    The top-level list comes first; a warning stored again deeper (a model's own list, without
    the model's name in front) is left out when an earlier one ends with it.
    """
    found: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                if key == "warnings" and isinstance(value, list):
                    found.extend(w for w in value if isinstance(w, str))
                else:
                    walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk({"warnings": result.get("warnings", []), **{k: v for k, v in result.items() if k != "warnings"}})
    unique: list[str] = []
    for warning in found:
        if not any(w.endswith(warning) for w in unique):
            unique.append(warning)
    return unique


def uninformative_ci(what: str, low: Any, high: Any, n: Any, events: Any, parameters: int | None = None,
                     percent: bool = False, width: float = UNINFORMATIVE_WIDTH) -> str | None:
    """Why a 95% CI on a 0-1 scale (an AUC, or a risk with ``percent``) tells nothing; None when it is informative.

    Missing bounds or a width of at least ``width`` are uninformative; the reason given is the
    number of patients and events behind the estimate (and, with ``parameters``, the number of
    predictors of the model, the events per predictor).
    """
    n, events = int(n or 0), int(events or 0)
    sizes = f"{_plural(events, 'event')} and {n - events} without among {n} patients"
    if parameters:
        sizes += f", {events / parameters:.1f} events per predictor (at least 10 are advised)"
    bounds = [float(v) if v is not None else math.nan for v in (low, high)]
    if not all(math.isfinite(v) for v in bounds):
        return f"{what}: the 95% CI could not be computed ({sizes}; it needs patients with and without an event)"
    if bounds[1] - bounds[0] < width:
        return None
    shown = (f"{100 * bounds[0]:.1f}-{100 * bounds[1]:.1f}%" if percent
             else f"{bounds[0]:.3f}-{bounds[1]:.3f}")
    return (f"{what}: the 95% CI {shown} is uninformative (it spans {bounds[1] - bounds[0]:.0%} of the possible "
            f"range) because the estimate rests on {sizes}")


def fmt(value: Any, digits: int = 3) -> str:
    """A stored number for printing; ``n/a`` for a missing one (NaN is stored as null)."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        return "n/a"
    return f"{number:.{digits}f}" if math.isfinite(number) else "n/a"


def print_warnings(warnings: list[str]) -> None:
    for warning in warnings:
        print(f"warning: {warning}")


def auc_ci_notes(result: dict[str, Any]) -> list[str]:
    """One note per model and centre whose AUC CI is missing or uninformative."""
    notes = []
    for name, model in result.get("models", {}).items():
        for centre, m in model.get("metrics", {}).items():
            note = uninformative_ci(f"{name} model, {centre}, AUC", m.get("auc_ci_low"), m.get("auc_ci_high"),
                                    m.get("n"), m.get("n_events"))
            if note:
                notes.append(note)
    return notes


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("analyze", help="run the paper's analysis: clinical tables, Radscore, three models",
                              description="Fit on the training centre, evaluate on every other centre, store the "
                                          "result in the study and optionally write it as JSON and HTML. Options "
                                          "left out take the defaults of core.analysis.AnalysisParams.")
    p.add_argument("--study", required=True, help="study database (.duckdb)")
    p.add_argument("--train", required=True, help="training centre")
    p.add_argument("--validate", nargs="*", default=[], help="centres to validate on")
    p.add_argument("--mask-source", default=None, help="'manual' or a segmentation model id (default: chosen)")
    p.add_argument("--top-k", type=integer(1), help="features kept after LASSO (default 10)")
    p.add_argument("--spearman", type=number(0, 1, low_open=True),
                   help="|rho| above which one of a pair goes (default 0.8)")
    p.add_argument("--univariate-p", type=number(0, 1, low_open=True),
                   help="Mann-Whitney P to keep a feature (default 0.05)")
    p.add_argument("--lambda", dest="lambda_choice", choices=("min", "1se"),
                   help="LASSO lambda: lambda.min or lambda.1se (default min)")
    p.add_argument("--cv-folds", type=integer(2), help="LASSO cross-validation folds (default 10)")
    p.add_argument("--bootstrap", type=integer(0), help="bootstrap replicates for optimism (default 200; 0 = none)")
    p.add_argument("--seed", type=integer(0, SEED_MAX),
                   help="random seed of the cross-validation and bootstrap (default 0)")
    p.add_argument("--clinical-predictors", nargs="+", metavar="VARIABLE",
                   help="use these clinical predictors instead of choosing them by univariate and multivariate P")
    p.add_argument("--out", help="write the result as JSON here")
    p.add_argument("--report", help="write a self-contained HTML report here")
    p.add_argument("--predictions", type=table_file,
                   help="write every patient's risks as a table here (.csv, .xlsx or .parquet)")
    p.set_defaults(func=_analyze)


_PARAMS = ("top_k", "spearman", "univariate_p", "lambda_choice", "cv_folds", "bootstrap", "seed")


def _analyze(args: argparse.Namespace) -> int:
    with Study.open(args.study, create=False) as study:
        params = {k: getattr(args, k) for k in _PARAMS if getattr(args, k) is not None}
        if args.clinical_predictors:
            params["clinical_predictors"] = tuple(args.clinical_predictors)
        analysis_id = run_study_analysis(study, args.train, args.validate, mask_source=args.mask_source, **params)
        result = study.analysis(analysis_id)
        predictions = study.predictions(analysis_id)
        if args.report:
            from core.report import write_report
            write_report(result, args.report, kind="analysis")
    _print_summary(analysis_id, result)
    print_warnings(stored_warnings(result) + auc_ci_notes(result))
    if args.predictions:
        from core.exports import write_table
        write_table(predictions.pivot(index=["center", "patient_id"], columns="model", values="risk")
                    .reset_index().rename_axis(columns=None), args.predictions)
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(result, indent=1))
    return 0


def _print_summary(analysis_id: str, result: dict) -> None:
    clinical, radiomics = result["clinical"], result["radiomics"]
    print(f"analysis {analysis_id}")
    print("independent clinical predictors: " + (", ".join(clinical["independent_predictors"]) or "none"))
    print("radiomics counts: " + " -> ".join(f"{k} {v}" for k, v in radiomics["counts"].items()))
    print(radiomics["radscore_formula"])
    rows = [{"model": name, "centre": centre, "AUC": fmt(m.get("auc")),
             "95% CI": f"{fmt(m.get('auc_ci_low'))}-{fmt(m.get('auc_ci_high'))}", "sens": fmt(m.get("sensitivity")),
             "spec": fmt(m.get("specificity")), "Brier": fmt(m.get("brier")), "HL p": fmt(m.get("hl_p"))}
            for name, model in result["models"].items() for centre, m in model["metrics"].items()]
    print(pd.DataFrame(rows).to_string(index=False))
    for centre, comps in result["comparisons"].items():
        for name, c in comps.items():
            print(f"DeLong {centre} {name}: z = {fmt(c.get('z'), 2)}, p = {fmt(c.get('p'), 4)}")
