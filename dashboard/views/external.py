"""External validation: a bundle fitted elsewhere, scored on a centre of this study, and recalibrated for it."""
import json

import pandas as pd
import streamlit as st

from core import plots
from core.models.bundle import KIND
from core.models.external import recalibrate_bundle, validate_bundle
from core.models.recalibration import METHODS
from core.report import render
from dashboard import analysis_ui as an
from dashboard import bundles, errors, evaluation, figures, session, tables

METHOD_LABELS = {"intercept": "Intercept-only update", "logistic": "Logistic recalibration"}

st.title("External validation")
st.caption("Validate a model fitted at another centre on this study's patients: no patient data leaves either "
           "centre, only the bundle (coefficients, scaling, extraction settings) travels.")
study = session.current_study()
bundle = bundles.pick("external")
bundles.keys_panel(bundle, "external")

with st.expander("What the bundle holds", expanded=False):
    st.code(bundle.content["radscore_formula"], language="text")
    tables.table(pd.DataFrame(bundle.predictors), f"{bundle.bundle_id}_predictors", key="predictors")
    st.caption(f"Extraction preset {bundle.content['extraction']['preset']} (settings "
               f"{bundle.settings_hash[:12]}), masks: {bundle.content['extraction']['mask_source']}; "
               f"training cut-offs: " + ", ".join(f"{k} {v:.3f}" for k, v in bundle.content["cutoffs"].items()))

left, right = st.columns([2, 3])
with left:
    roles = set(session.centers()["role"])
    centre = session.pick_center("Centre to validate on", key="external-centre",
                                default_role="external" if "external" in roles else "validation")
override = right.checkbox("Use features extracted with other settings than the bundle's",
                          key="external-override",
                          help="Results are then not a faithful validation; the report states the override.")
if not centre:
    st.stop()


def _validate(study, bundle_id: str, centre: str, override: bool, signature: str) -> dict:
    """``signature`` (the bundle's signature status) is part of the cache key: the result states it."""
    from core.models.bundle import stored_bundle

    return validate_bundle(study, stored_bundle(study, bundle_id), centre, allow_other_settings=override)


def _report(study, bundle_id: str, centre: str, override: bool, signature: str) -> str:
    return render(_validate(study, bundle_id, centre, override, signature), kind="validation")


def _recalibration_table(rec: dict) -> pd.DataFrame:
    rows = []
    for name in an.MODEL_NAMES:
        r = rec["models"][name]
        if "note" in r:
            rows.append({"Model": an.MODEL_LABELS[name], "Intercept a (95% CI)": r["note"]})
            continue
        m = r["metrics"]
        rows.append({
            "Model": an.MODEL_LABELS[name],
            "Intercept a (95% CI)": tables.fmt_ci(r["intercept"], r["intercept_ci_low"], r["intercept_ci_high"], 2),
            "Slope b (95% CI)": (tables.fmt_ci(r["slope"], r["slope_ci_low"], r["slope_ci_high"], 2)
                                 if r["method"] == "logistic" else "1 (fixed)"),
            "n (events)": f"{r['n']} ({r['events']})",
            "After: calibration-in-the-large": tables.fmt_num(m.get("calibration_intercept"), 2),
            "After: slope": tables.fmt_num(m.get("calibration_slope"), 2),
            "After: Brier": tables.fmt_num(m.get("brier")),
            "After: Hosmer-Lemeshow P": tables.fmt_p(m.get("hl_p")),
            "Can be saved": "yes" if r["saveable"] else r["why_not"]})
    return pd.DataFrame(rows)


def _recalibration(result: dict, key: str) -> None:
    """Both recalibrations of this centre: estimates, metrics after, calibration plots; and saving one."""
    st.subheader("Recalibration for this centre")
    st.caption("Each model is recalibrated on its own linear predictor lp, by maximum likelihood on this centre's "
               "patients; the figures after recalibration are apparent (estimated and evaluated on the same "
               "patients). Saving one writes a new bundle, signed by this installation, holding coefficients only: "
               "the outcomes never leave the centre.")
    for tab, method in zip(st.tabs([METHOD_LABELS[m] for m in METHODS]), METHODS):
        rec = result["recalibration"][method]
        with tab:
            st.caption(rec["description"])
            tables.table(_recalibration_table(rec), f"recalibration_{method}_{centre}", key=f"recal-{method}",
                         download=pd.DataFrame([{"model": n, **{k: v for k, v in r.items() if k != "metrics"},
                                                 **{f"after_{k}": v for k, v in (r.get("metrics") or {}).items()}}
                                                for n, r in rec["models"].items()]))
            cal = rec["curves"]["calibration"]
            if cal:
                legend = {n: f"{an.MODEL_LABELS[n]} recalibrated" for n in cal}
                fig = figures.figure_for((key, method, "calibration"), lambda: plots.calibration(
                    {n: an.frame(v["grouped"]) for n, v in cal.items()},
                    {n: an.frame(v["smoothed"]) for n, v in cal.items()}, legend,
                    title=f"Calibration after the {METHOD_LABELS[method].lower()}"))
                figures.chart(fig, f"calibration_{method}_{centre}", key=f"recal-{method}-calibration")
            for note in rec["warnings"]:
                st.caption(f"\u26a0 {note}")

    st.markdown("**Save a recalibrated bundle**")
    a, b = st.columns([1, 2])
    method = a.radio("Method", list(METHODS), format_func=METHOD_LABELS.get, key="recal-method")
    chosen = b.multiselect("Models to recalibrate (each on its own linear predictor; the others stay as shared)",
                           list(an.MODEL_NAMES), default=list(an.MODEL_NAMES), format_func=an.MODEL_LABELS.get,
                           key="recal-models")
    if st.button("Save as a new bundle", key="recal-save", icon=":material/save:", disabled=not chosen):
        with errors.guard("Recalibration refused"):
            new = recalibrate_bundle(study, bundle, centre, method, models=tuple(chosen), allow_other_settings=override)
            st.session_state["recal-saved"] = new.bundle_id
    saved = st.session_state.get("recal-saved")
    if saved and saved in set(session.read("models", KIND)["model_id"]):
        new = session.cached_call(bundles.load, saved, key=("bundle", saved))
        st.success(f"Saved {saved}, {new.content['recalibration']['method']} recalibration for "
                   f"{new.content['recalibration']['centre']}: choose it in the Bundle list above, or on the Patient "
                   "risk page.", icon=":material/check_circle:")
        st.download_button("Recalibrated bundle (.json)", new.to_json(), file_name=f"{saved}.json",
                           mime="application/json", icon=":material/download:", key="recal-download")


signature = bundle.provenance().status
with errors.guard("Validation refused"):
    result = session.cached_call(_validate, bundle.bundle_id, centre, override, signature)
    if result["settings_override"]:
        st.warning(result["settings_override"], icon=":material/warning:")
    info = result["cohorts"][centre]
    st.caption(f"{centre}: {info['n_patients']} patients, {info['n_events']} with PTLF, "
               f"{info['n_with_features']} with features; scored with the bundle's frozen models and cut-offs.")
    figure_key = f"{study.path}-{study.version()}-{bundle.bundle_id}-{override}"
    evaluation.show(result, centre, figure_key, bundle.content["cutoffs"])
    _recalibration(result, figure_key)
    if result["range_warnings"]:
        st.markdown(f"**{len(result['range_warnings'])} value(s) outside the training ranges** "
                    "(the models extrapolate for these patients)")
        tables.table(pd.DataFrame(result["range_warnings"]), f"outside_range_{centre}", key="ranges")
    for note in result["warnings"]:
        st.caption(f"\u26a0 {note}")
    a, b = st.columns(2)
    a.download_button("HTML report", session.cached_call(_report, bundle.bundle_id, centre, override, signature),
                      file_name=f"validation_{centre}.html", mime="text/html", icon=":material/description:")
    b.download_button("Results (JSON)", json.dumps(result, indent=1), file_name=f"validation_{centre}.json",
                      mime="application/json", icon=":material/data_object:")
