"""The paper's analysis on a study: load the centres' tables, run it, store it; ``analyze`` verb.

``run_study_analysis`` is what the command line and the dashboard both call. Every centre
is read with the same mask source and extraction settings, so the features agree.
"""
from __future__ import annotations

import argparse
import json
from datetime import datetime
from pathlib import Path
from typing import Any

import pandas as pd

from core.store import Study, StudyError

JOB = "analysis"


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

    ``params`` are fields of :class:`core.analysis.AnalysisParams` (top_k, spearman, ...). The run
    is recorded as an ``analysis`` job, so the dashboard's Jobs page shows it and its errors.
    """
    validate = [c for c in validate if c != train]
    job_id = study.jobs.create(JOB, train, {"validate": validate, "mask_source": mask_source, **params}, total=1)
    try:
        analysis_id = _run(study, train, validate, mask_source, settings_hash, params)
    except BaseException as exc:
        study.jobs.update(job_id, state="failed", failed=1, message=f"{type(exc).__name__}: {exc}"[:2000])
        raise
    study.jobs.update(job_id, state="done", done=1, message=f"analysis {analysis_id}")
    return analysis_id


def _run(study: Study, train: str, validate: list[str], mask_source: str | None, settings_hash: str | None,
         params: dict[str, Any]) -> str:
    from core.analysis import run_analysis

    for center in [train, *validate]:
        study.role(center)
    mask_source, settings_hash = feature_set(study, [train, *validate], mask_source, settings_hash)
    clinical, features = study_cohort(study, train, mask_source, settings_hash)
    others = {c: study_cohort(study, c, mask_source, settings_hash) for c in validate}
    result = run_analysis(clinical, features, others, train_name=train, **params)
    payload = result.to_dict()
    payload["data"] = {"study": study.path.name, "mask_source": mask_source, "settings_hash": settings_hash,
                       "extraction": study.settings(settings_hash),
                       "roles": {c: study.role(c) for c in [train, *validate]}}
    analysis_id = f"{train}-{datetime.now():%Y%m%d-%H%M%S-%f}"
    predictions = pd.concat(
        [frame.reset_index().melt(id_vars=["patient_id"], value_vars=["clinical", "radiomics", "combined"],
                                  var_name="model", value_name="risk").assign(center=center)
         for center, frame in result.predictions.items()], ignore_index=True)
    study.save_analysis(analysis_id, train, {"validate": validate, "mask_source": mask_source,
                                             "settings_hash": settings_hash, **params}, payload, predictions)
    return analysis_id


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("analyze", help="run the paper's analysis: clinical tables, Radscore, three models",
                              description="Fit on the training centre, evaluate on every other centre, store the "
                                          "result in the study and optionally write it as JSON and HTML. Options "
                                          "left out take the defaults of core.analysis.AnalysisParams.")
    p.add_argument("--study", required=True, help="study database (.duckdb)")
    p.add_argument("--train", required=True, help="training centre")
    p.add_argument("--validate", nargs="*", default=[], help="centres to validate on")
    p.add_argument("--mask-source", default=None, help="'manual' or a segmentation model id (default: chosen)")
    p.add_argument("--top-k", type=int, help="features kept after LASSO (default 10)")
    p.add_argument("--spearman", type=float, help="|rho| above which one of a pair goes (default 0.8)")
    p.add_argument("--univariate-p", type=float, help="Mann-Whitney P to keep a feature (default 0.05)")
    p.add_argument("--lambda", dest="lambda_choice", choices=("min", "1se"),
                   help="LASSO lambda: lambda.min or lambda.1se (default min)")
    p.add_argument("--cv-folds", type=int, help="LASSO cross-validation folds (default 10)")
    p.add_argument("--bootstrap", type=int, help="bootstrap replicates for optimism (default 200; 0 = none)")
    p.add_argument("--seed", type=int, help="random seed of the cross-validation and bootstrap (default 0)")
    p.add_argument("--clinical-predictors", nargs="+", metavar="VARIABLE",
                   help="use these clinical predictors instead of choosing them by univariate and multivariate P")
    p.add_argument("--out", help="write the result as JSON here")
    p.add_argument("--report", help="write a self-contained HTML report here")
    p.set_defaults(func=_analyze)


_PARAMS = ("top_k", "spearman", "univariate_p", "lambda_choice", "cv_folds", "bootstrap", "seed")


def _analyze(args: argparse.Namespace) -> int:
    with Study.open(args.study, create=False) as study:
        params = {k: getattr(args, k) for k in _PARAMS if getattr(args, k) is not None}
        if args.clinical_predictors:
            params["clinical_predictors"] = tuple(args.clinical_predictors)
        analysis_id = run_study_analysis(study, args.train, args.validate, mask_source=args.mask_source, **params)
        result = study.analysis(analysis_id)
        if args.report:
            from core.report import write_report
            write_report(result, args.report, kind="analysis")
    _print_summary(analysis_id, result)
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
    rows = [{"model": name, "centre": centre, "AUC": m.get("auc"), "95% CI": f"{m.get('auc_ci_low', float('nan')):.3f}"
             f"-{m.get('auc_ci_high', float('nan')):.3f}", "sens": m.get("sensitivity"), "spec": m.get("specificity"),
             "Brier": m.get("brier"), "HL p": m.get("hl_p")}
            for name, model in result["models"].items() for centre, m in model["metrics"].items()]
    print(pd.DataFrame(rows).to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    for centre, comps in result["comparisons"].items():
        for name, c in comps.items():
            print(f"DeLong {centre} {name}: z = {c.get('z', float('nan')):.2f}, p = {c.get('p', float('nan')):.4f}")
