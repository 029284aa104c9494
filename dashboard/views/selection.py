"""Feature selection: move a threshold and the funnel of counts, the LASSO path and CV curve, the
selected features' weights and the Radscore's apparent AUC update at once (the selection is rerun
on the training centre, nothing is stored); "Save as analysis" then runs the whole analysis, with
its bootstrap, as a job. Selection stability and the cost of the Radscore's refit come from the
saved analysis' bootstrap."""
import math

import pandas as pd
import streamlit as st

from core import plots
from dashboard import analysis_ui as an
from dashboard import figures, session, tables

st.title("Feature selection")
session.current_study()
analysis_id, result = an.pick()
an.seed_settings(result)
if not session.center_names():
    st.info("The study has no centres yet: upload a cohort on the Cohorts page.")
    st.stop()
with st.expander("Training data", expanded=result is None, icon=":material/database:"):
    an.data_settings()
st.markdown("**Thresholds** \u00b7 every change reruns the selection on the training centre; nothing is saved "
            "until you press *Save as analysis*.")
an.selection_settings()
settings = an.current_settings()
params = settings["params"]

try:
    live = an.preview(settings["train"], settings["mask_source"], params)
except Exception as exc:  # a centre without features: say what to do
    st.warning(f"Cannot preview the selection: {exc}")
    live = None
an.fit_controls("selection", label="Save as analysis")
if live is None:
    st.stop()
if live.get("error"):
    st.warning(f"{live['error']}. Loosen a threshold (univariate P, Spearman cut-off) to keep features.",
               icon=":material/filter_alt_off:")
    st.stop()

choice = params["lambda_choice"]
STEPS = {
    "input": "Extracted features",
    "complete": "Without missing values",
    "non_constant": "Not constant",
    "icc": f"Reproducible (ICC \u2265 {params.get('icc_threshold')})",
    "spearman": f"Not redundant (Spearman |\u03c1| \u2264 {params['spearman']})",
    "univariate": f"Univariate P < {params['univariate_p']}",
    "lasso": f"LASSO non-zero at \u03bb.{choice}",
    "top_k": f"Top {params['top_k']} by |coefficient|",
}
steps = [(STEPS.get(k, k), int(v)) for k, v in live["counts"].items()]
key = (tuple(settings["train"]), settings["mask_source"], tuple(sorted((k, str(v)) for k, v in params.items())))

left, right = st.columns([1, 1])
with left:
    figures.chart(figures.figure_for((*key, "funnel"), lambda: plots.funnel(steps, title="Features left after each step")),
                  "selection_funnel", key="funnel")
    funnel = pd.DataFrame({"Step": [s for s, _ in steps], "Features": [n for _, n in steps]})
    tables.downloads(funnel, "selection_funnel_counts", key="funnel-dl")
with right:
    low, high = live["apparent_auc_ci"]
    st.metric("Radscore AUC on the training patients (apparent)", f"{live['apparent_auc']:.3f}",
              help=f"95% DeLong CI {low:.3f}\u2013{high:.3f}; {live['n']} patients, {live['n_events']} events. "
                   "Apparent: measured on the patients that chose the features, so it flatters the Radscore. The "
                   "saved analysis corrects it by the bootstrap.")
    st.markdown("**Radscore**")
    st.code(live["radscore_formula"], language="text", wrap_lines=True)
    st.caption(f"Features z-scored with the training cohort's mean and SD; coefficients: "
               f"{an.RADSCORE_COEF[params['radscore_coef']]}; filters {an.CV_SELECTION[params['cv_selection']]}. "
               f"Selection took {sum(live['timings'].values()):.2f} s.")

lambda_min, lambda_1se = live.get("lambda_min"), live.get("lambda_1se")
selected = an.frame(live["selected"])
left, right = st.columns(2)
with left:
    fig = figures.figure_for((*key, "path"), lambda: plots.lasso_path(
        an.lasso_path(live["lasso_path"]), lambda_min, lambda_1se, tuple(selected["feature"]),
        title="LASSO coefficient path"))
    figures.chart(fig, "selection_lasso_path", key="path")
    tables.downloads(an.frame(live["lasso_path"]), "selection_lasso_path", key="path-dl")
with right:
    cv = an.frame(live["lasso_cv"])
    cvf = cv.rename(columns={"cv_mean": "mean", "cv_se": "se", "n_nonzero": "nonzero"})
    figures.chart(figures.figure_for((*key, "cv"), lambda: plots.cv_curve(
        cvf, lambda_min, lambda_1se, title=f"{params['cv_folds']}-fold cross-validation")), "selection_lasso_cv", key="cv")
    tables.downloads(cv, "selection_lasso_cv", key="cv-dl")
    st.caption(f"\u03bb.min = {lambda_min:.4g} (log \u03bb = {math.log(lambda_min):.2f}), \u03bb.1se = "
               f"{lambda_1se:.4g} (log \u03bb = {math.log(lambda_1se):.2f}); the selection uses \u03bb.{choice}.")

st.subheader("Selected features")
saved = result if result and all(result["params"].get(k) == v for k, v in params.items()
                                 if k in ("spearman", "univariate_p", "lambda_choice", "top_k", "cv_folds",
                                          "cv_selection", "radscore_coef", "seed")) else None
stability = an.frame((saved or {}).get("validation", {}).get("stability"))
shown = selected.assign(label=selected["region"] + ": " + selected["name"])
order = list(shown.reindex(shown["coef"].abs().sort_values().index)["label"])
left, right = st.columns([3, 2]) if len(stability) else (st.container(), None)
with left:
    figures.chart(figures.figure_for((*key, "weights"), lambda: plots.weights(
        shown, feature="label", coef="coef", region="region",
        title="Radscore coefficients of the z-scored features, by region")), "selection_weights", key="weights")
if right is not None:
    freq = shown[["feature", "label"]].merge(stability, on="feature", how="left")
    with right:
        figures.chart(figures.figure_for((*key, "stability"), lambda: plots.stability(
            freq, feature="label", order=order, title="Selection stability (bootstrap)")),
            "selection_stability", key="stability")
    shown = shown.merge(stability[["feature", "frequency"]], on="feature", how="left")
table = pd.DataFrame({
    "Region": shown["region"], "Feature": shown["name"],
    "Coefficient": shown["coef"].map(lambda x: tables.fmt_num(x, 4)),
    "LASSO coefficient": shown["lasso_coef"].map(lambda x: tables.fmt_num(x, 4)),
    "Univariate P": shown["univariate_p"].map(tables.fmt_p),
    **({"Selected in replicates": shown["frequency"].map(
        lambda f: "" if pd.isna(f) else f"{f:.0%}" + (" \u26a0" if f < 0.5 else ""))} if "frequency" in shown else {}),
    "Training mean": shown["mean"].map(lambda x: f"{x:.4g}"),
    "Training SD": shown["sd"].map(lambda x: f"{x:.4g}"),
})
tables.table(table, "selection_selected_features", key="selected", download=selected)
if len(stability):
    unstable = int((shown["frequency"].fillna(0) < 0.5).sum())
    st.caption(f"Share of the {saved['validation'].get('n_boot')} bootstrap replicates of analysis {analysis_id} whose "
               f"own selection picked each feature; \u26a0 marks the {unstable} selected in fewer than half, a "
               "signature the data do not pin down." if unstable else
               f"Share of the {saved['validation'].get('n_boot')} bootstrap replicates whose own selection picked "
               "each feature.")
elif saved is None:
    st.caption("Selection stability comes from the bootstrap of a saved analysis with these thresholds: press "
               "*Save as analysis*.")
else:
    st.caption("This analysis was saved without a full bootstrap, so selection stability is unknown.")

if live.get("icc"):
    from core.radiomics.robustness import icc_frame, robust_summary

    st.subheader("Reproducibility")
    icc = icc_frame(live["icc"])
    threshold = float(params["icc_threshold"])
    left, right = st.columns([3, 2])
    with left:
        figures.chart(figures.figure_for((*key, "icc"), lambda: plots.icc_distribution(
            icc, threshold, title=f"{params['icc_kind']} by image type and region")), "selection_icc", key="icc")
    with right:
        tables.table(robust_summary(icc.dropna(subset=["icc"]), threshold), "selection_icc_summary",
                     key="icc-summary", download=icc.reset_index())
    st.caption(f"Features kept when their {params['icc_kind']} between the analysis' masks and "
               f"{params['icc_against']} masks is at least {threshold:g}; the ICC never reads the outcome.")

if saved is not None and len(an.frame(saved.get("shrinkage"))):
    st.subheader("What the Radscore's refit costs")
    shrink = an.frame(saved["shrinkage"])
    variants = an.frame(saved.get("validation", {}).get("variants"))
    corrected = variants[variants["metric"] == "calibration_slope"].set_index("variant")["corrected"] \
        if len(variants) else pd.Series(dtype=float)
    rows = []
    for variant, part in shrink.groupby("variant", sort=False):
        row = {"Radscore": an.RADSCORE_COEF.get(variant, variant)}
        for _, r in part.iterrows():
            row[f"Slope \u00b7 {r['centre']}"] = tables.fmt_num(r["calibration_slope"], 2)
            row[f"AUC \u00b7 {r['centre']}"] = tables.fmt_num(r["auc"])
        row["Slope, optimism-corrected (training)"] = tables.fmt_num(corrected.get(variant), 2)
        rows.append(row)
    tables.table(pd.DataFrame(rows), f"{analysis_id}_radscore_shrinkage", key="shrinkage", download=shrink)
    st.caption("Each Radscore used directly as a risk (expit of the score). A calibration slope below 1 on a centre "
               "the model never saw means its predictions are too extreme: the unpenalised refit of the top "
               "features overfits; the LASSO's shrunken coefficients usually keep the slope nearer 1.")
for note in live.get("warnings") or []:
    st.caption(f"\u26a0 {note}")
