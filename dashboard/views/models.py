"""Models: the clinical, radiomics and combined models on every centre: ROC with AUC and CI,
DeLong comparisons, decision curves, calibration, and metrics at the training cut-off."""
import pandas as pd
import streamlit as st

from dashboard import analysis_ui as an
from core.models.bundle import build_bundle
from core.report import render
from core import plots
from dashboard import errors, evaluation, figures, session, tables

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
fitted = [n for n in an.MODEL_NAMES if n in models]
labels = an.MODEL_LABELS
st.info(an.validation_sentence(result), icon=":material/verified:")
for name, why in (result.get("skipped_models") or {}).items():
    st.warning(f"{labels[name]} model not fitted: {why}", icon=":material/block:")


# Overview: AUC of every model on every centre, the training one optimism-corrected beside it.
def _auc(n: str, c: str) -> str:
    m = models[n]["metrics"].get(c, {})
    text = tables.fmt_ci(m.get("auc"), m.get("auc_ci_low"), m.get("auc_ci_high"))
    return text + (f"; corrected {tables.fmt_num(m['auc_corrected'])}" if m.get("auc_corrected") is not None else "")


overview = pd.DataFrame([{"Centre": c + (" (training)" if c == train else ""), **{labels[n]: _auc(n, c) for n in fitted}}
                         for c in names])
st.markdown("**AUC (95% DeLong CI)**")
tables.table(overview, f"{analysis_id}_auc_overview", key="overview")
slopes = [(n, c, models[n]["metrics"][c].get("calibration_slope")) for n in fitted for c in names if c != train
          and models[n]["metrics"].get(c, {}).get("calibration_slope") is not None]
steep = [f"{labels[n]} on {c}: {s:.2f}" for n, c, s in slopes if s < 0.8]
if steep:
    st.warning("Calibration slope below 0.8 on a centre the models never saw (" + "; ".join(steep) + "): the "
               "predictions are too extreme there, the sign of an overfitted model. The LASSO's shrunken Radscore "
               "(Feature selection page) or a recalibration for that centre would temper them.",
               icon=":material/warning:")

centre = st.segmented_control("Centre", names, default=names[0], key="models_centre",
                              format_func=lambda c: f"{c} (training)" if c == train else c) or names[0]
info = result["cohorts"].get(centre, {})
st.caption(f"{centre}: {info.get('n_patients', '?')} patients, {info.get('n_events', '?')} with PTLF"
           + (" \u00b7 the models were fitted here" if centre == train else " \u00b7 scored only, nothing fitted here"))
evaluation.show(result, centre, analysis_id, {n: models[n]["cutoff"] for n in fitted})

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

harmonised = result.get("harmonisation")
if harmonised:
    st.subheader("Harmonisation")
    values = an.frame(harmonised["values"])
    st.caption(f"{harmonised['method']} of {harmonised['n_features']} features, reference centre "
               f"{harmonised['reference']}; each validating centre harmonised from its own features (its outcomes "
               "never read). The most shifted features by centre, before and after:")
    before, after = (values[values["when"] == w].reset_index(drop=True) for w in ("before", "after"))
    figures.chart(figures.figure_for((analysis_id, "harmonisation"), lambda: plots.harmonisation(
        before[harmonised["shown"]], after[harmonised["shown"]], before["centre"], harmonised["shown"])),
        f"{analysis_id}_harmonisation", key="harmonisation")
    tables.downloads(an.frame(harmonised["shifts"]), f"{analysis_id}_harmonisation_shifts", key="harm-dl")

iecv = result.get("internal_external")
if iecv:
    st.subheader("Internal-external cross-validation")
    st.caption("Each training centre left out in turn: the models are developed on the others (the same selection "
               "and settings) and validated on it; the centres' results are pooled by random-effects meta-analysis "
               "(REML), with the 95% prediction interval for a new centre.")
    per_centre, pooled = an.frame(iecv["per_centre"]), an.frame(iecv["pooled"])
    model = st.segmented_control("Model", [m for m in an.MODEL_NAMES if m in set(per_centre.get("model", []))],
                                 default="combined", key="iecv_model", format_func=an.MODEL_LABELS.get) or "combined"
    columns = st.columns(3)
    for column, (metric, label, ref) in zip(columns, (("auc", "AUC", 0.5), ("calibration_slope", "Calibration slope", 1.0),
                                                        ("calibration_intercept", "Calibration-in-the-large", 0.0))):
        rows = per_centre[per_centre["model"] == model]
        match = pooled[(pooled["model"] == model) & (pooled["metric"] == metric)] if len(pooled) else pooled
        with column:
            figures.chart(figures.figure_for((analysis_id, "iecv", model, metric), lambda: plots.centre_forest(
                rows, match.iloc[0].to_dict() if len(match) else None, metric, label, ref)),
                f"{analysis_id}_iecv_{model}_{metric}", key=f"iecv-{metric}")
    tables.table(pooled, f"{analysis_id}_iecv_pooled", key="iecv-pooled", download=per_centre)
    for note in iecv.get("notes") or []:
        st.caption(f"\u26a0 {note}")

with st.expander("Model coefficients"):
    for n in fitted:
        coef = an.frame(models[n]["coefficients"])
        st.markdown(f"**{labels[n]}** ({models[n]['method']}, {models[n]['n_obs']} patients)")
        shown = coef.assign(p=coef["p"].map(tables.fmt_p)).round(4) if "p" in coef else coef
        tables.table(shown, f"{n}_coefficients", key=f"coef-{n}", download=coef)
if result.get("warnings"):
    with st.expander(f"{len(result['warnings'])} note(s) from the analysis"):
        for note in result["warnings"]:
            st.caption(f"\u26a0 {note}")
