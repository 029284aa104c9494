"""External validation: a bundle fitted elsewhere, scored on a centre of this study."""
import json

import pandas as pd
import streamlit as st

from core.models.external import validate_bundle
from core.report import render
from dashboard import bundles, errors, evaluation, session, tables

st.title("External validation")
st.caption("Validate a model fitted at another centre on this study's patients: no patient data leaves either "
           "centre, only the bundle (coefficients, scaling, extraction settings) travels.")
study = session.current_study()
bundle = bundles.pick("external")

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


def _validate(study, bundle_id: str, centre: str, override: bool) -> dict:
    from core.models.bundle import stored_bundle

    return validate_bundle(study, stored_bundle(study, bundle_id), centre, allow_other_settings=override)


def _report(study, bundle_id: str, centre: str, override: bool) -> str:
    return render(_validate(study, bundle_id, centre, override), kind="validation")


with errors.guard("Validation refused"):
    result = session.cached_call(_validate, bundle.bundle_id, centre, override)
    if result["settings_override"]:
        st.warning(result["settings_override"], icon=":material/warning:")
    info = result["cohorts"][centre]
    st.caption(f"{centre}: {info['n_patients']} patients, {info['n_events']} with PTLF, "
               f"{info['n_with_features']} with features; scored with the bundle's frozen models and cut-offs.")
    evaluation.show(result, centre, f"{study.path}-{study.version()}-{bundle.bundle_id}-{override}",
                    bundle.content["cutoffs"])

    st.markdown("**Logistic recalibration on this cohort** (beside the original models, not instead of them)")
    recal = pd.DataFrame([{"model": m, **{k: v for k, v in r.items() if not isinstance(v, dict)}}
                          for m, r in ((m, result["models"][m]["recalibrated"]) for m in result["models"])])
    tables.table(recal.round(4), f"recalibration_{centre}", key="recalibration")
    if result["range_warnings"]:
        st.markdown(f"**{len(result['range_warnings'])} value(s) outside the training ranges** "
                    "(the models extrapolate for these patients)")
        tables.table(pd.DataFrame(result["range_warnings"]), f"outside_range_{centre}", key="ranges")
    for note in result["warnings"]:
        st.caption(f"\u26a0 {note}")
    a, b = st.columns(2)
    a.download_button("HTML report", session.cached_call(_report, bundle.bundle_id, centre, override),
                      file_name=f"validation_{centre}.html", mime="text/html", icon=":material/description:")
    b.download_button("Results (JSON)", json.dumps(result, indent=1), file_name=f"validation_{centre}.json",
                      mime="application/json", icon=":material/data_object:")
