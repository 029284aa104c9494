"""The stored analyses as the analysis pages see them: which one is shown, its settings, and
running a new one in the background.

An analysis is ``core.analysis.run_analysis`` on the training centre's clinical table and
features, scored on the other centres, stored with ``Study.save_analysis``; pages read its
``to_dict()`` form back with ``Study.analysis``. Settings live in ``st.session_state``
(keys ``an_*``), so the Feature selection and Models pages edit the same ones.
"""
from __future__ import annotations

import dataclasses
from typing import Any

import pandas as pd
import streamlit as st

from core.analysis_cli import run_study_analysis
from dashboard import background, session

BACKGROUND = "analysis"
MODEL_NAMES = ("clinical", "radiomics", "combined")
MODEL_LABELS = {"clinical": "Clinical", "radiomics": "Radiomics", "combined": "Combined"}
CV_SELECTION = {"inside": "refitted in each fold (honest)", "outside": "once, before the CV (as the paper)"}
RADSCORE_COEF = {"refit": "unpenalised refit (paper)", "lasso_min": "LASSO at \u03bb.min", "lasso_1se": "LASSO at \u03bb.1se"}
BOOTSTRAP_REFIT = {"full": "every fitted step (honest)", "final": "final models only (optimistic)"}


# ---------------------------------------------------------------------------------- reading
def stored() -> pd.DataFrame:
    return session.read("analyses")


def load(analysis_id: str) -> dict:
    """A stored analysis (cached by its id and time: analyses are written once, so running jobs that
    change the study do not make the pages parse it again)."""
    df = stored()
    created = df.loc[df["analysis_id"] == analysis_id, "created_at"]
    return session.read_shared(("analysis", analysis_id, str(created.iloc[0]) if len(created) else ""),
                              "analysis", analysis_id)


def pick(container=None) -> tuple[str | None, dict | None]:
    """The analysis shown (the newest unless one was chosen); (None, None) with a message when none."""
    df = stored()
    if df.empty:
        return None, None
    ids = list(df["analysis_id"])
    chosen = st.session_state.get("analysis_choice")
    if chosen not in ids:
        chosen = ids[0]
    labels = {a: f"{a} \u00b7 trained on {t} \u00b7 {pd.Timestamp(c):%Y-%m-%d %H:%M}"
              for a, t, c in zip(df["analysis_id"], df["train_center"], df["created_at"])}
    where = container or st
    analysis_id = where.selectbox("Analysis", ids, index=ids.index(chosen), format_func=labels.get,
                                  key="analysis_pick", help="Stored analyses, newest first.")
    st.session_state["analysis_choice"] = analysis_id
    return analysis_id, load(analysis_id)


def current() -> tuple[str | None, dict | None]:
    """The analysis the other pages show (chosen there, else the newest), without a widget."""
    df = stored()
    if df.empty:
        return None, None
    ids = list(df["analysis_id"])
    chosen = st.session_state.get("analysis_choice")
    analysis_id = chosen if chosen in ids else ids[0]
    return analysis_id, load(analysis_id)


def frame(rows: Any) -> pd.DataFrame:
    """A stored table (list of row dicts) as a DataFrame."""
    if isinstance(rows, pd.DataFrame):
        return rows
    return pd.DataFrame(rows or [])


def centres(result: dict) -> list[str]:
    """Training centre first, then the others as stored."""
    train = result["training"]["name"]
    return [train, *[c for c in result["cohorts"] if c != train]]


def none_message() -> None:
    st.info("No analysis stored in this study yet. Choose the settings and press **Fit** on the Models page "
            "(or here) to run one.", icon=":material/info:")


# --------------------------------------------------------------------------------- settings
def _defaults() -> dict:
    from core.analysis import AnalysisParams

    return dataclasses.asdict(AnalysisParams())


def seed_settings(result: dict | None) -> None:
    """Start the settings from the shown analysis (once per session and analysis)."""
    marker = result["training"]["name"] + str(result.get("params")) if result else "defaults"
    if st.session_state.get("an_seeded") == marker:
        return
    params = {**_defaults(), **((result or {}).get("params") or {})}
    for key, value in params.items():
        st.session_state[f"an_{key}"] = tuple(value) if isinstance(value, list) else value
    st.session_state["an_predictor_mode"] = "choose" if (result or {}).get("params", {}).get(
        "clinical_predictors") else "auto"
    if result is None:  # a small training centre cannot have more CV folds than events
        centers = session.centers()
        events = centers.loc[centers["role"] == "training", "events"]
        if len(events) and 2 <= int(events.iloc[0]) < params["cv_folds"]:
            st.session_state["an_cv_folds"] = int(events.iloc[0])
    if result:
        data = (result.get("data") or {})
        st.session_state["an_train"] = list(data.get("training_centres") or [result["training"]["name"]])
        st.session_state["an_validate"] = [c for c in result["cohorts"] if c != result["training"]["name"]]
        st.session_state["an_iecv"] = bool(data.get("iecv"))
        if data.get("mask_source"):
            st.session_state["an_mask_source"] = data["mask_source"]
    st.session_state["an_seeded"] = marker


def _copy(key: str) -> None:
    st.session_state[f"an_{key}"] = st.session_state[f"w_{key}"]


def _widget_defaults(keys: list[str]) -> None:
    for key in keys:
        if f"w_{key}" not in st.session_state and f"an_{key}" in st.session_state:
            value = st.session_state[f"an_{key}"]
            st.session_state[f"w_{key}"] = list(value) if isinstance(value, tuple) else value


def settings_panel(result: dict | None, sections=("data", "clinical", "selection", "models"),
                   expanded: bool = False, key: str = "settings") -> None:
    """The analysis settings (seeded from the shown analysis) and the Fit button, in an expander."""
    seed_settings(result)
    titles = {"data": "Data", "clinical": "Clinical predictors", "selection": "Radiomics selection",
              "models": "Models and evaluation"}
    with st.expander("Settings for a new fit", expanded=expanded, icon=":material/tune:"):
        for section in sections:
            st.markdown(f"**{titles[section]}**")
            {"data": data_settings, "clinical": clinical_settings, "selection": selection_settings,
             "models": model_settings}[section]()
    fit_controls(key)


def data_settings() -> None:
    """Training centre(s), centres to validate on, mask source, harmonisation, internal-external CV."""
    names = session.center_names()
    roles = dict(zip(session.centers()["center"], session.centers()["role"]))
    train = [c for c in (st.session_state.get("an_train") or []) if c in names]
    if not train:
        train = [next((c for c in names if roles[c] == "training"), names[0])] if names else []
    st.session_state["an_train"] = train
    _widget_defaults(["train", "validate", "mask_source", "harmonise", "iecv"])
    if not set(st.session_state.get("w_train") or []) <= set(names) or not st.session_state.get("w_train"):
        st.session_state["w_train"] = list(train)
    c1, c2, c3 = st.columns([2, 2, 1])
    c1.multiselect("Training centre(s)", names, key="w_train", on_change=_copy, args=("train",),
                   format_func=lambda c: f"{c} ({roles.get(c)})",
                   help="Several centres are pooled for training (each a batch when harmonising).")
    chosen = st.session_state["w_train"] or train
    others = [c for c in names if c not in chosen]
    if "w_validate" not in st.session_state or not set(st.session_state["w_validate"]) <= set(others):
        st.session_state["w_validate"] = others
        st.session_state["an_validate"] = others
    c2.multiselect("Validate on", others, key="w_validate", on_change=_copy, args=("validate",),
                   help="Only scored: nothing is fitted on these centres.")
    sources = session.read("mask_sources", chosen[0]) if chosen else []
    sources = [s for s in sources or ["manual"] if s != "reader2" and not s.startswith("perturbed-")] or ["manual"]
    if st.session_state.get("w_mask_source") not in sources:
        st.session_state["w_mask_source"] = "manual" if "manual" in sources else sources[0]
        st.session_state["an_mask_source"] = st.session_state["w_mask_source"]
    c3.selectbox("Mask source of the features", sources, key="w_mask_source", on_change=_copy,
                 args=("mask_source",))
    c1, c2 = st.columns(2)
    c1.checkbox("Harmonise the centres (ComBat)", key="w_harmonise", on_change=_copy, args=("harmonise",),
                help="Reference-batch ComBat fitted on the training centre(s); each validating centre is harmonised "
                     "from its own features, never its outcomes. Refitted in every bootstrap replicate.")
    c2.checkbox("Internal-external cross-validation", key="w_iecv", on_change=_copy, args=("iecv",),
                disabled=len(chosen) < 3, help="With three or more training centres: each is left out in turn, the "
                                               "models developed on the others are validated on it, and the results "
                                               "are pooled by random effects (forest plot on the Models page).")


def clinical_settings() -> None:
    from core.cohort.catalogue import BY_NAME

    _widget_defaults(["predictor_mode", "clinical_predictors"])
    c1, c2, c3 = st.columns([1, 1, 2])
    _in(c1, "Univariate entry P (clinical)", "clinical_p", 0.001, 1.0, 0.01, "%.3f")
    _in(c2, "Multivariate P (independent)", "multivariate_p", 0.001, 1.0, 0.01, "%.3f")
    with c3:
        mode = st.radio("Clinical predictors", ("auto", "choose"), key="w_predictor_mode", horizontal=True,
                        on_change=_copy, args=("predictor_mode",),
                        format_func={"auto": "selected by P values", "choose": "chosen here"}.get)
        if mode == "choose":
            train = st.session_state.get("an_train") or []
            variables = [c for c in session.read("clinical", train[0]).columns if c != "ptlf"] if train else []
            current = [v for v in (st.session_state.get("w_clinical_predictors") or []) if v in variables]
            st.session_state["w_clinical_predictors"] = current or [v for v in ("inr", "alb") if v in variables]
            _copy("clinical_predictors")
            st.multiselect("Predictors", variables, key="w_clinical_predictors", on_change=_copy,
                           args=("clinical_predictors",),
                           format_func=lambda v: BY_NAME[v].label if v in BY_NAME else v)


def _in(where, label: str, key: str, lo, hi, step, fmt=None, help=None, cast=float):
    with where:
        if f"w_{key}" not in st.session_state:
            st.session_state[f"w_{key}"] = cast(st.session_state[f"an_{key}"])
        return st.number_input(label, lo, hi, step=step, format=fmt, key=f"w_{key}", help=help,
                               on_change=_copy, args=(key,))


def selection_settings() -> None:
    """Every threshold of the radiomics selection."""
    _widget_defaults(["lambda_choice", "cv_selection", "radscore_coef", "icc_against"])
    c = st.columns(6)
    _in(c[0], "Spearman |\u03c1| cut-off", "spearman", 0.1, 1.0, 0.05, "%.2f",
        help="Of every pair of features correlated above this, the one with the higher univariate P goes.")
    _in(c[1], "Univariate P", "univariate_p", 0.0001, 1.0, 0.01, "%.4f", help="Mann-Whitney U, two-sided.")
    _in(c[2], "CV folds (LASSO)", "cv_folds", 2, 20, 1, cast=int, help="Stratified; at most the number of events.")
    with c[3]:
        st.radio("\u03bb", ("1se", "min"), key="w_lambda_choice", horizontal=True, on_change=_copy,
                 args=("lambda_choice",), format_func={"1se": "\u03bb.1se", "min": "\u03bb.min"}.get)
    _in(c[4], "Top k features", "top_k", 1, 100, 1, cast=int, help="The largest |LASSO coefficients| kept.")
    _in(c[5], "Seed", "seed", 0, 2**31 - 1, 1, cast=int, help="CV folds and bootstrap.")
    c = st.columns(4)
    with c[2]:
        train = st.session_state.get("an_train") or []
        held = session.read("mask_sources", train[0]) if train else []
        options = [None, *(["reader2"] if "reader2" in held else []),
                   *(["perturbed"] if any(s.startswith("perturbed-") for s in held) else []),
                   *[s for s in held if s not in ("manual", "reader2", st.session_state.get("an_mask_source"))
                     and not s.startswith("perturbed-")]]
        if st.session_state.get("w_icc_against") not in options:
            st.session_state["w_icc_against"] = None
            st.session_state["an_icc_against"] = None
        st.selectbox("Reproducibility filter (ICC) against", options, key="w_icc_against", on_change=_copy,
                     args=("icc_against",), format_func=lambda s: {None: "none", "reader2": "a second reader's masks",
                                                                   "perturbed": "perturbed masks"}.get(s, s),
                     help="Keep only features whose values agree between the analysis' masks and these (ICC). "
                          "Upload masks_reader2/ with a cohort, or make perturbed masks with `python -m core "
                          "robustness perturb`, then extract them with the same preset.")
    _in(c[3], "ICC at least", "icc_threshold", 0.0, 1.0, 0.05, "%.2f")
    with c[0]:
        st.radio("Filters and LASSO's cross-validation", ("inside", "outside"), key="w_cv_selection",
                 horizontal=True, on_change=_copy, args=("cv_selection",), format_func=CV_SELECTION.get,
                 help="Inside (default): the Spearman and univariate filters are refitted on each fold's training "
                      "patients, so the held-out patients never chose their own features and the CV deviance is "
                      "honest. Outside: filtered once on everyone before the CV, as the paper did (optimistic).")
    with c[1]:
        st.radio("Radscore coefficients", ("refit", "lasso_min", "lasso_1se"), key="w_radscore_coef",
                 horizontal=True, on_change=_copy, args=("radscore_coef",), format_func=RADSCORE_COEF.get,
                 help="The paper refits an unpenalised logistic model on the top-k features (default, as published); "
                      "the LASSO's own shrunken coefficients are usually better calibrated in new patients.")


def model_settings() -> None:
    _widget_defaults(["method", "bootstrap_refit"])
    c = st.columns(6)
    with c[0]:
        st.selectbox("Logistic fit", ("auto", "ml", "firth"), key="w_method", on_change=_copy, args=("method",),
                     help="auto: maximum likelihood, Firth's penalised likelihood under separation.")
    _in(c[1], "Bootstrap replicates", "bootstrap", 0, 2000, 50, cast=int,
        help="Optimism-corrected training metrics (Harrell); 0 for none.")
    with c[2]:
        st.selectbox("Bootstrap repeats", ("full", "final"), key="w_bootstrap_refit", on_change=_copy,
                     args=("bootstrap_refit",), format_func=BOOTSTRAP_REFIT.get,
                     help="Full (default): every fitted step, the selection included, is repeated in each replicate, "
                          "as rms::validate does. Final: only the final models are refitted with the selected "
                          "features held fixed, which ignores the selection's own variance and flatters the model.")
    _in(c[3], "Calibration groups", "calibration_bins", 3, 20, 1, cast=int)
    _in(c[4], "Hosmer-Lemeshow groups", "hl_groups", 3, 20, 1, cast=int)
    _in(c[5], "DCA bootstrap bands", "dca_bootstrap", 0, 2000, 50, cast=int, help="0 for none.")


def current_settings() -> dict:
    """The settings as run_analysis keyword arguments plus train (a list), validate, mask_source, iecv."""
    defaults = _defaults()
    params = {k: st.session_state.get(f"an_{k}", v) for k, v in defaults.items()}
    params = {k: (tuple(v) if isinstance(v, list) else v) for k, v in params.items()}
    for key in ("cv_folds", "top_k", "seed", "n_lambda", "bootstrap", "calibration_bins", "hl_groups",
                "dca_bootstrap"):
        params[key] = int(params[key])
    if st.session_state.get("an_predictor_mode") == "choose":
        params["clinical_predictors"] = tuple(st.session_state.get("an_clinical_predictors") or ()) or None
    else:
        params["clinical_predictors"] = None
    train = list(st.session_state.get("an_train") or [])
    return {"train": train, "validate": list(st.session_state.get("an_validate") or []),
            "mask_source": st.session_state.get("an_mask_source", "manual"), "params": params,
            "iecv": bool(st.session_state.get("an_iecv")) and len(train) >= 3}


# ---------------------------------------------------------------------------------- running
def lasso_path(rows: Any) -> pd.DataFrame:
    """The stored coefficient path (one row per lambda: lambda, then one column per feature ever
    non-zero) as long rows log_lambda, feature, coef for plotting."""
    import numpy as np

    wide = frame(rows)
    if wide.empty or "lambda" not in wide:
        return pd.DataFrame(columns=["log_lambda", "feature", "coef"])
    wide = wide.assign(log_lambda=np.log(wide.pop("lambda").astype(float)))
    return wide.melt(id_vars="log_lambda", var_name="feature", value_name="coef")


def fit_controls(key: str, label: str = "Fit the models") -> None:
    """The Fit button (runs every current setting) and the running analysis' progress."""
    running = background.background_running(BACKGROUND)
    settings = current_settings()
    if st.button(label, icon=":material/play_arrow:", type="primary", key=f"{key}-fit",
                 disabled=running or not settings["train"],
                 help="Runs the whole analysis with these settings on the training centre and scores the others."):
        study = session.current_study()
        background.start_background(BACKGROUND, run_study_analysis, study, settings["train"], settings["validate"],
                                    mask_source=settings["mask_source"], iecv=settings["iecv"], **settings["params"])
        st.session_state.pop("analysis_choice", None)  # show the new one when it is stored
        st.rerun()
    if err := background.background_error(BACKGROUND):
        st.error(f"The analysis stopped: {err}")
    if running:
        @st.fragment(run_every=1)
        def _wait() -> None:
            if background.background_running(BACKGROUND):
                st.info("Fitting the models\u2026 this page refreshes when the analysis is stored.",
                        icon=":material/hourglass_top:")
            else:
                st.rerun()
        _wait()


# ------------------------------------------------------------------------------ validation
def validation_sentence(result: dict) -> str:
    """How a stored analysis' training numbers were validated, in one sentence for every page."""
    from core.analysis import describe_validation

    return describe_validation(result)


def _centres_key(train: list[str]) -> tuple:
    return tuple(k for c in train for k in session.center_key(c))


def preview_data(train: list[str], mask_source: str, icc_against: str | None = None
                 ) -> tuple[pd.DataFrame, pd.DataFrame, str, list[pd.DataFrame]]:
    """(clinical, features, settings_hash, further measurements for the ICC filter) of the training
    centre(s), pooled when several, cached until those centres change."""
    from core.analysis_cli import feature_set, retest_features, study_cohort, training_cohort

    def load(study, centres, source, against):
        source, settings_hash = feature_set(study, list(centres), source)
        cohorts = {c: study_cohort(study, c, source, settings_hash) for c in centres}
        clinical, features, _ = training_cohort(cohorts, list(centres))
        retest = retest_features(study, list(centres), source, settings_hash, against, cohorts)
        return clinical, features, settings_hash, retest

    return session.cached_call(load, tuple(train), mask_source, icc_against,
                               key=("preview-data", *_centres_key(train), mask_source, icc_against))


def preview(train: list[str], mask_source: str, params: dict) -> dict:
    """The radiomics selection with these settings on the training centre (nothing stored), cached
    per settings: what the Feature selection page redraws when a threshold moves."""
    from core.analysis import preview_selection

    clinical, features, settings_hash, retest = preview_data(train, mask_source, params.get("icc_against"))
    keys = ("spearman", "univariate_p", "lambda_choice", "top_k", "cv_folds", "cv_selection", "radscore_coef",
            "seed", "n_lambda", "lambda_min_ratio", "method", "outcome", "icc_threshold", "icc_kind", "icc_against")
    chosen = {k: params[k] for k in keys if k in params}

    def run(study, center, source, digest):
        return preview_selection(clinical, features, retest_features=retest or None, **chosen)

    return session.cached_call(run, tuple(train), mask_source, tuple(sorted(chosen.items())),
                               key=("preview", *_centres_key(train), mask_source, settings_hash,
                                    tuple(sorted(chosen.items()))))
