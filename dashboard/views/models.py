"""Models: the clinical, radiomics and combined models on every centre: ROC with AUC and CI,
DeLong comparisons, decision curves, calibration, and metrics at the training cut-off."""
import pandas as pd
import streamlit as st

from dashboard import analysis_ui as an
from core.models.bundle import build_bundle
from core.report import render
from dashboard import errors, evaluation, session, tables

st.title("Models")
session.current_study()
top = st.container()
analysis_id, result = an.pick(top)
an.settings_panel(result, expanded=result is None, key="models")
if result is None:
    an.none_message()
    st.stop()

names = an.centres(result)
train = result["training"]["name"]
models = result["models"]
labels = an.MODEL_LABELS


# Overview: AUC of every model on every centre.
overview = pd.DataFrame([{"Centre": c + (" (training)" if c == train else ""),
                          **{labels[n]: tables.fmt_ci(models[n]["metrics"].get(c, {}).get("auc"),
                                                      models[n]["metrics"].get(c, {}).get("auc_ci_low"),
                                                      models[n]["metrics"].get(c, {}).get("auc_ci_high"))
                             for n in an.MODEL_NAMES}} for c in names])
st.markdown("**AUC (95% DeLong CI)**")
tables.table(overview, f"{analysis_id}_auc_overview", key="overview")

centre = st.segmented_control("Centre", names, default=names[0], key="models_centre",
                              format_func=lambda c: f"{c} (training)" if c == train else c) or names[0]
info = result["cohorts"].get(centre, {})
st.caption(f"{centre}: {info.get('n_patients', '?')} patients, {info.get('n_events', '?')} with PTLF"
           + (" \u00b7 the models were fitted here" if centre == train else " \u00b7 scored only, nothing fitted here"))
evaluation.show(result, centre, analysis_id, {n: models[n]["cutoff"] for n in an.MODEL_NAMES})

def _bundle(study, analysis_id: str) -> str:
    return build_bundle(study, analysis_id).to_json()


def _report(study, analysis_id: str) -> str:
    return render(study.analysis(analysis_id), kind="analysis")


share, report = st.columns(2)
with errors.guard("Cannot export the bundle"):
    share.download_button("Export model bundle (.json)", session.cached_call(_bundle, analysis_id, key=("bundle", analysis_id)),
                          file_name=f"{analysis_id}_bundle.json", mime="application/json", icon=":material/share:",
                          help="Coefficients, scaling, extraction settings and cut-offs; no patient data. Another "
                               "centre validates it on its External validation page.")
report.download_button("HTML report (TRIPOD+AI)", session.cached_call(_report, analysis_id, key=("report", analysis_id)),
                       file_name=f"{analysis_id}_report.html", mime="text/html", icon=":material/description:")

with st.expander("Model coefficients"):
    for n in an.MODEL_NAMES:
        coef = an.frame(models[n]["coefficients"])
        st.markdown(f"**{labels[n]}** ({models[n]['method']}, {models[n]['n_obs']} patients)")
        shown = coef.assign(p=coef["p"].map(tables.fmt_p)).round(4) if "p" in coef else coef
        tables.table(shown, f"{n}_coefficients", key=f"coef-{n}", download=coef)
if result.get("warnings"):
    with st.expander(f"{len(result['warnings'])} note(s) from the analysis"):
        for note in result["warnings"]:
            st.caption(f"\u26a0 {note}")
