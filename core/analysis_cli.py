"""The paper's analysis on a study: load the centres' tables, run it, store it; ``analyze`` verb.

``run_study_analysis`` is what the command line and the dashboard both call. Every centre
is read with the same mask source and extraction settings, so the features agree.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import math
import time
from datetime import datetime
from pathlib import Path
from typing import Any, Callable, Sequence

import pandas as pd

from core.cli_types import SEED_MAX, integer, number, table_file
from core.jobs.progress import format_duration
from core.stats._json import jsonable
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


def run_study_analysis(study: Study, train: str | Sequence[str], validate: list[str] | tuple[str, ...] = (), *,
                       mask_source: str | None = None, settings_hash: str | None = None,
                       progress: Callable[[int, int], None] | None = None, reuse: bool = True,
                       iecv: bool = False, **params: Any) -> str:
    """Run the analysis trained on ``train`` and scored on ``validate``; store it; return its id.

    ``train``: one centre, or several pooled (each patient's centre a ComBat batch with
    ``harmonise``; ids that clash are prefixed ``centre/``); with ``iecv`` (three or more training
    centres) each is also left out in turn, developing on the others and validating on it, and the
    per-centre results pooled by random effects (``core.multicentre``).

    ``params`` are fields of :class:`core.analysis.AnalysisParams` (top_k, spearman, ...). The inputs
    are checked first (centres, shared features, the training outcome): a refusal writes nothing.
    The run itself is recorded as an ``analysis`` job with the bootstrap's progress (replicates
    done, rate, time left; ``progress(done, total)`` too), which the dashboard's Jobs page shows and
    can cancel. An analysis is cached by content: with ``reuse``, the same data and settings return
    the stored analysis instead of fitting (and bootstrapping) again.
    """
    trains = [train] if isinstance(train, str) else list(dict.fromkeys(train))
    validate = [c for c in validate if c not in trains]
    for center in [*trains, *validate]:
        study.role(center)
    if iecv and len(trains) < 3:
        raise ValueError(f"internal-external validation needs three or more training centres, got {trains}")
    mask_source, settings_hash = feature_set(study, [*trains, *validate], mask_source, settings_hash)
    cohorts = {c: study_cohort(study, c, mask_source, settings_hash) for c in [*trains, *validate]}
    train_name = "+".join(trains)
    training = training_cohort(cohorts, trains)
    check_training_cohort(training[0], training[1], train_name, params)
    retest = retest_features(study, trains, mask_source, settings_hash, params.get("icc_against"), cohorts)
    key = content_key({**cohorts, **{f"retest:{i}": (r, r) for i, r in enumerate(retest)}}, train_name, params,
                      iecv=iecv)
    if reuse:
        stored = study.analyses()
        for analysis_id, stored_params in zip(stored["analysis_id"], stored["params"]):
            if json.loads(stored_params or "{}").get("content_key") == key:
                return analysis_id
    job_id = study.jobs.create(JOB, train_name, {"validate": validate, "mask_source": mask_source, **params}, total=0)
    clock = time.monotonic()

    def report(done: int, total: int) -> None:
        elapsed = time.monotonic() - clock
        rate = done / elapsed if elapsed > 0 else 0.0
        left = f", {format_duration((total - done) / rate)} left" if rate and done < total else ""
        study.jobs.update(job_id, total=total, done=done,
                          message=f"bootstrap {done}/{total} replicates, {rate * 60:.0f} replicates/min{left}")
        if progress is not None:
            progress(done, total)

    try:
        analysis_id = _run(study, trains, validate, mask_source, settings_hash, cohorts, training, retest,
                           {**params, "content_key": key}, iecv, report, lambda: study.jobs.cancel_requested(job_id))
    except BaseException as exc:
        cancelled = study.jobs.cancel_requested(job_id)
        study.jobs.update(job_id, state="cancelled" if cancelled else "failed", failed=0 if cancelled else 1,
                          message=("cancelled during the bootstrap" if cancelled
                                   else f"{type(exc).__name__}: {exc}"[:2000]))
        raise
    study.jobs.update(job_id, state="done", message=f"analysis {analysis_id}")
    return analysis_id


def training_cohort(cohorts: dict[str, tuple[pd.DataFrame, pd.DataFrame]], trains: list[str]
                    ) -> tuple[pd.DataFrame, pd.DataFrame, pd.Series | None]:
    """(clinical, features, centre by patient or None) of the training centre(s), pooled if several."""
    if len(trains) == 1:
        return (*cohorts[trains[0]], None)
    from core.multicentre import pooled_cohort

    return pooled_cohort({c: cohorts[c] for c in trains})


def retest_features(study: Study, trains: list[str], mask_source: str, settings_hash: str, against: str | None,
                    cohorts: dict[str, tuple[pd.DataFrame, pd.DataFrame]]) -> list[pd.DataFrame]:
    """The training centres' features from the masks ``against`` stands for (another reader's,
    perturbed ones, a model's; ``core.radiomics.robustness.alternative_sources``), extracted with
    the same settings, pooled as the training cohort is, for the ICC filter; empty without
    ``against``."""
    if not against:
        return []
    from core.radiomics.robustness import alternative_sources

    by_source: dict[int, dict[str, tuple[pd.DataFrame, pd.DataFrame]]] = {}
    for center in trains:
        for i, source in enumerate(alternative_sources(study, center, mask_source, against)):
            frame = study.features_wide(center, source, settings_hash)
            if frame.empty:
                raise StudyError(f"centre {center!r} has no features from mask source {source!r} with these settings: "
                                 f"run `python -m core extract --center {center} --mask-source {source}` first")
            by_source.setdefault(i, {})[center] = (cohorts[center][0], frame)
    return [training_cohort(frames, trains)[1] for frames in by_source.values()]


def content_key(cohorts: dict[str, tuple[pd.DataFrame, pd.DataFrame]], train: str, params: dict[str, Any],
                **options: Any) -> str:
    """SHA-256 of everything an analysis depends on: each centre's clinical table and features (values,
    labels, order), which centre trains, and the settings (with their defaults filled in)."""
    from dataclasses import asdict

    from core.analysis import AnalysisParams

    digest = hashlib.sha256()
    digest.update(json.dumps({"train": train, "params": asdict(AnalysisParams(**params)), **options}, sort_keys=True,
                             default=str).encode())
    for centre in sorted(cohorts):
        digest.update(centre.encode())
        for frame in cohorts[centre]:
            digest.update(json.dumps([list(map(str, frame.columns)), list(map(str, frame.index))]).encode())
            digest.update(pd.util.hash_pandas_object(frame, index=True).to_numpy().tobytes())
    return digest.hexdigest()


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


def _run(study: Study, trains: list[str], validate: list[str], mask_source: str, settings_hash: str,
         cohorts: dict[str, tuple[pd.DataFrame, pd.DataFrame]], training: tuple, retest: list[pd.DataFrame],
         params: dict[str, Any], iecv: bool, progress: Callable[[int, int], None],
         should_stop: Callable[[], bool]) -> str:
    from core.analysis import run_analysis

    clinical, features, centres = training
    train_name = "+".join(trains)
    fit = {k: v for k, v in params.items() if k != "content_key"}
    result = run_analysis(clinical, features, {c: cohorts[c] for c in validate}, train_name=train_name,
                          train_centres=centres, retest_features=retest or None, progress=progress,
                          should_stop=should_stop, **fit)
    payload = result.to_dict()
    payload["data"] = {"study": study.path.name, "mask_source": mask_source, "settings_hash": settings_hash,
                       "extraction": study.settings(settings_hash), "training_centres": trains, "iecv": iecv,
                       "roles": {c: study.role(c) for c in [*trains, *validate]}}
    if iecv:
        from core.analysis_params import AnalysisParams
        from core.multicentre import internal_external

        payload["internal_external"] = jsonable(internal_external(
            {c: cohorts[c] for c in trains}, AnalysisParams(**fit)).to_dict())
    analysis_id = f"{train_name}-{datetime.now():%Y%m%d-%H%M%S-%f}"
    rows = prediction_rows(result.predictions)
    if centres is not None:                      # a pooled training cohort's rows belong to their own centres
        pooled = rows["center"] == train_name
        rows.loc[pooled, "center"] = rows.loc[pooled, "patient_id"].map(centres)
        rows.loc[pooled, "patient_id"] = [p.split("/", 1)[1] if p.startswith(f"{c}/") else p for p, c in
                                          zip(rows.loc[pooled, "patient_id"], rows.loc[pooled, "center"])]
    study.save_analysis(analysis_id, train_name, {"validate": validate, "mask_source": mask_source,
                                                  "settings_hash": settings_hash, "iecv": iecv, **params},
                        payload, rows)
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
    p.add_argument("--train", required=True, nargs="+", metavar="CENTRE",
                   help="training centre, or several to pool (each one a ComBat batch with --harmonise)")
    p.add_argument("--iecv", action="store_true",
                   help="internal-external cross-validation over the training centres (three or more): each left "
                        "out in turn, the results pooled by random effects")
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
    p.add_argument("--bootstrap-refit", choices=("full", "final"),
                   help="full (default): every fitted step, the selection included, is repeated in each replicate "
                        "(honest); final: only the final models, with the selected features fixed (optimistic)")
    p.add_argument("--cv-selection", choices=("inside", "outside"),
                   help="inside (default): the Spearman and univariate filters are refitted in each LASSO CV fold; "
                        "outside: once before the CV, as the paper did (optimistic CV deviance)")
    p.add_argument("--radscore-coef", choices=("refit", "lasso_min", "lasso_1se"),
                   help="the Radscore's coefficients: refit (default, the paper's unpenalised refit of the top-k "
                        "features) or the LASSO's shrunken ones at lambda.min / lambda.1se")
    p.add_argument("--dca-bootstrap", type=integer(0), help="bootstrap replicates for decision-curve bands (default 200)")
    p.add_argument("--workers", type=integer(1), help="processes for the bootstrap (default: every core)")
    p.add_argument("--harmonise", action="store_true",
                   help="ComBat the radiomics features by centre (reference: the training centre; each validating "
                        "centre harmonised on its own features, never its outcomes)")
    p.add_argument("--icc-against", metavar="MASKS",
                   help="keep only features reproducible between the analysis' masks and these: reader2, perturbed "
                        "(see `python -m core robustness perturb`) or a segmentation model id")
    p.add_argument("--icc-threshold", type=number(0, 1), help="lowest ICC kept (default 0.75)")
    p.add_argument("--icc-kind", choices=("ICC(2,1)", "ICC(3,1)"), help="ICC form (default ICC(2,1))")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--seed", type=integer(0, SEED_MAX),
                   help="random seed of the cross-validation and bootstrap (default 0)")
    p.add_argument("--clinical-predictors", nargs="+", metavar="VARIABLE",
                   help="use these clinical predictors instead of choosing them by univariate and multivariate P")
    p.add_argument("--out", help="write the result as JSON here")
    p.add_argument("--report", help="write a self-contained HTML report here")
    p.add_argument("--predictions", type=table_file,
                   help="write every patient's risks as a table here (.csv, .xlsx or .parquet)")
    p.set_defaults(func=_analyze)


_PARAMS = ("top_k", "spearman", "univariate_p", "lambda_choice", "cv_folds", "bootstrap", "seed", "bootstrap_refit",
           "cv_selection", "radscore_coef", "dca_bootstrap", "workers", "icc_against", "icc_threshold", "icc_kind")


def _analyze(args: argparse.Namespace) -> int:
    with Study.open(args.study, create=False) as study:
        params = {k: getattr(args, k) for k in _PARAMS if getattr(args, k) is not None}
        if args.clinical_predictors:
            params["clinical_predictors"] = tuple(args.clinical_predictors)
        if args.harmonise:
            params["harmonise"] = True
        bar = None

        def show(done: int, total: int) -> None:
            nonlocal bar
            if bar is None:
                from tqdm import tqdm
                bar = tqdm(total=total, unit="replicate", desc="bootstrap", dynamic_ncols=True)
            bar.update(done - bar.n)

        try:
            analysis_id = run_study_analysis(study, args.train, args.validate, mask_source=args.mask_source,
                                             iecv=args.iecv,
                                             progress=None if args.no_progress else show, **params)
        finally:
            if bar is not None:
                bar.close()
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
    print(radiomics["radscore_formula"] or f"no Radscore: {radiomics.get('skipped')}")
    from core.analysis import describe_validation

    print(describe_validation(result))
    rows = [{"model": name, "centre": centre, "AUC": fmt(m.get("auc")),
             "95% CI": f"{fmt(m.get('auc_ci_low'))}-{fmt(m.get('auc_ci_high'))}", "sens": fmt(m.get("sensitivity")),
             "spec": fmt(m.get("specificity")), "Brier": fmt(m.get("brier")), "HL p": fmt(m.get("hl_p"))}
            | ({"AUC corrected": fmt(m.get("auc_corrected")), "slope corrected": fmt(m.get("calibration_slope_corrected"))}
               if "auc_corrected" in m else {"slope": fmt(m.get("calibration_slope"))})
            for name, model in result["models"].items() for centre, m in model["metrics"].items()]
    print(pd.DataFrame(rows).to_string(index=False))
    for centre, comps in result["comparisons"].items():
        for name, c in comps.items():
            print(f"DeLong {centre} {name}: z = {fmt(c.get('z'), 2)}, p = {fmt(c.get('p'), 4)}")
    iecv = result.get("internal_external")
    if iecv:
        print("internal-external validation (each training centre left out; random-effects pooled):")
        pooled = pd.DataFrame(iecv["pooled"])
        if len(pooled):
            print(pooled[["model", "metric", "estimate", "ci_low", "ci_high", "pi_low", "pi_high", "tau2", "i2"]]
                  .to_string(index=False, float_format=lambda v: f"{v:.3f}"))
