"""Feature selection: the thresholds, the funnel of counts, the LASSO coefficient path and CV
deviance with lambda.min and lambda.1se, the selected features' weights and the Radscore."""
import math

import pandas as pd
import streamlit as st

from dashboard import analysis_ui as an
from core import plots
from dashboard import figures, session, tables

st.title("Feature selection")
session.current_study()
analysis_id, result = an.pick()
an.settings_panel(result, sections=("selection", "data"), expanded=result is None, key="selection")
if result is None:
    an.none_message()
    st.stop()

rad = result["radiomics"]
params = result["params"]
choice = rad.get("lambda_choice", params.get("lambda_choice", "min"))
STEPS = {
    "input": "Extracted features",
    "complete": "Without missing values",
    "non_constant": "Not constant",
    "icc": f"Reproducible (ICC \u2265 {params.get('icc_threshold')})",
    "spearman": f"Not redundant (Spearman |\u03c1| \u2264 {params.get('spearman')})",
    "univariate": f"Univariate P < {params.get('univariate_p')}",
    "lasso": f"LASSO non-zero at \u03bb.{choice}",
    "top_k": f"Top {params.get('top_k')} by |coefficient|",
}
counts = rad["counts"]
steps = [(STEPS.get(k, k), int(v)) for k, v in counts.items()]

left, right = st.columns([1, 1])
with left:
    figures.chart(figures.figure(plots.funnel, steps, title="Features left after each step"),
                 f"{analysis_id}_funnel", key="funnel")
with right:
    st.markdown("**Radscore**")
    st.code(rad["radscore_formula"], language="text", wrap_lines=True)
    st.caption("Features are z-scored with the training cohort's mean and SD; the Radscore is the linear predictor "
               f"of a logistic model on them ({rad.get('radscore_method', '')}).")
    funnel = pd.DataFrame({"Step": [s for s, _ in steps], "Features": [n for _, n in steps]})
    tables.downloads(funnel, f"{analysis_id}_funnel_counts", key="funnel-dl")

lambda_min, lambda_1se = rad.get("lambda_min"), rad.get("lambda_1se")
left, right = st.columns(2)
with left:
    selected = an.frame(rad["selected"])
    if rad.get("lasso_path"):
        fig = figures.figure_for((analysis_id, "lasso_path"), lambda: plots.lasso_path(
            an.lasso_path(rad["lasso_path"]), lambda_min, lambda_1se, tuple(selected["feature"]),
            title="LASSO coefficient path"))
        figures.chart(fig, f"{analysis_id}_lasso_path", key="path")
        tables.downloads(an.frame(rad["lasso_path"]), f"{analysis_id}_lasso_path", key="path-dl")
    else:
        st.info("This analysis was stored without its coefficient path.", icon=":material/info:")
with right:
    if rad.get("lasso_cv"):
        cv = an.frame(rad["lasso_cv"])
        cvf = cv.rename(columns={"cv_mean": "mean", "cv_se": "se", "n_nonzero": "nonzero"})
        figures.chart(figures.figure(plots.cv_curve, cvf, lambda_min, lambda_1se,
                                   title=f"{params.get('cv_folds')}-fold cross-validation"),
                     f"{analysis_id}_lasso_cv", key="cv")
        tables.downloads(cv, f"{analysis_id}_lasso_cv", key="cv-dl")
        st.caption(f"\u03bb.min = {lambda_min:.4g} (log \u03bb = {math.log(lambda_min):.2f}), \u03bb.1se = "
                   f"{lambda_1se:.4g} (log \u03bb = {math.log(lambda_1se):.2f}); the selection used \u03bb.{choice}.")

st.subheader("Selected features")
if len(selected):
    shown = selected.assign(label=selected["region"] + ": " + selected["name"])
    figures.chart(figures.figure(plots.weights, shown, feature="label", coef="coef", region="region",
                               title="Radscore coefficients of the z-scored features, by region"),
                 f"{analysis_id}_weights", key="weights")
    table = pd.DataFrame({
        "Region": shown["region"], "Feature": shown["name"],
        "Coefficient": shown["coef"].map(lambda x: tables.fmt_num(x, 4)),
        "LASSO coefficient": shown["lasso_coef"].map(lambda x: tables.fmt_num(x, 4)),
        "Univariate P": shown["univariate_p"].map(tables.fmt_p),
        "Training mean": shown["mean"].map(lambda x: f"{x:.4g}"),
        "Training SD": shown["sd"].map(lambda x: f"{x:.4g}"),
    })
    tables.table(table, f"{analysis_id}_selected_features", key="selected", download=selected)
for note in rad.get("warnings") or []:
    st.caption(f"\u26a0 {note}")
