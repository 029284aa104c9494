"""One centre's evaluation of the three models: ROC, decision curves, calibration, DeLong, metrics.

Shared by the Models page (a stored analysis) and the External validation page (a bundle scored
on another study's centre): both results carry ``models.<name>.metrics.<centre>``,
``curves.<centre>`` and ``comparisons.<centre>``.
"""
import pandas as pd
import streamlit as st

from core import plots
from dashboard import analysis_ui as an
from dashboard import figures, tables

labels = an.MODEL_LABELS


def metric_row(models: dict, cutoffs: dict, name: str, centre: str) -> dict:
    m = models[name]["metrics"].get(centre, {})
    return {
        "Model": labels[name],
        "n (events)": f"{m.get('n', '')} ({m.get('n_events', '')})",
        "AUC (95% CI)": tables.fmt_ci(m.get("auc"), m.get("auc_ci_low"), m.get("auc_ci_high")),
        **({"AUC optimism-corrected": tables.fmt_num(m.get("auc_corrected"))} if "auc_corrected" in m else {}),
        "Cut-off": tables.fmt_num(cutoffs[name]),
        "Sensitivity": tables.fmt_num(m.get("sensitivity")),
        "Specificity": tables.fmt_num(m.get("specificity")),
        "Accuracy": tables.fmt_num(m.get("accuracy")),
        "PPV": tables.fmt_num(m.get("ppv")),
        "NPV": tables.fmt_num(m.get("npv")),
        "Brier": tables.fmt_num(m.get("brier")),
        "Calibration-in-the-large": tables.fmt_ci(m.get("calibration_intercept"), m.get("calibration_intercept_ci_low"),
                                                  m.get("calibration_intercept_ci_high"), 2),
        "Recalibration intercept (rms Intercept)": tables.fmt_ci(
            m.get("recalibration_intercept"), m.get("recalibration_intercept_ci_low"),
            m.get("recalibration_intercept_ci_high"), 2),
        "Calibration slope": tables.fmt_ci(m.get("calibration_slope"), m.get("calibration_slope_ci_low"),
                                           m.get("calibration_slope_ci_high"), 2),
        "Hosmer-Lemeshow \u03c7\u00b2 (df)": (f"{tables.fmt_num(m.get('hl_chi2'), 2)} ({m.get('hl_df')}"
                                                + (f": {m['hl_df_rule']}" if m.get("hl_df_rule") else "") + ")"
                                                if m.get("hl_chi2") is not None else ""),
        "Hosmer-Lemeshow P": tables.fmt_p(m.get("hl_p")),
    }


def show(result: dict, centre: str, analysis_id: str, cutoffs: dict) -> None:
    """Plots and tables of ``centre``; ``analysis_id`` (or a validation's id) keys the cached figures."""
    models = result["models"]
    curves = result["curves"].get(centre, {})
    roc_rows = curves.get("roc") or {}
    legend = {}
    for n in roc_rows:
        m = models[n]["metrics"].get(centre, {}) if n in models else {}
        legend[n] = f"{labels[n]}: AUC {tables.fmt_ci(m.get('auc'), m.get('auc_ci_low'), m.get('auc_ci_high'))}"
    left, right = st.columns(2)
    with left:
        if roc_rows:
            fig = figures.figure_for((analysis_id, centre, "roc"), lambda: plots.roc(
                {n: an.frame(rows) for n, rows in roc_rows.items()}, legend, title="ROC curves"))
            figures.chart(fig, f"roc_{centre}", key="roc")
            tables.downloads(pd.concat([an.frame(rows).assign(model=n) for n, rows in roc_rows.items()]),
                             f"{analysis_id}_roc_{centre}", key="roc-dl")
        else:
            st.info("No ROC curve: this centre's scored patients have one outcome class only.")
    with right:
        if curves.get("decision"):
            def decision_figure(max_t: float):
                decision = an.frame(curves["decision"])
                dca = {labels[n]: decision.assign(net_benefit=decision[n], **{
                    f"net_benefit_{b}": decision[f"{n}_{b}"] for b in ("low", "high") if f"{n}_{b}" in decision})
                    for n in an.MODEL_NAMES if n in decision}
                banded = any("net_benefit_low" in frame for frame in dca.values())
                return plots.decision_curves(dca, title="Decision curves" + (" (95% bootstrap bands)" if banded else ""),
                                             max_threshold=max_t)

            max_t = st.session_state.get("dca_max", 0.6)
            fig = figures.figure_for((analysis_id, centre, "dca", max_t), lambda: decision_figure(max_t))
            figures.chart(fig, f"dca_{centre}", key="dca")
            tables.downloads(an.frame(curves["decision"]), f"{analysis_id}_decision_curves_{centre}", key="dca-dl")
            st.slider("Largest threshold probability shown", 0.05, 1.0, 0.6, 0.05, key="dca_max")
        else:
            st.info("No decision curve for this centre.")

    left, right = st.columns(2)
    with left:
        cal = curves.get("calibration") or {}
        cal_legend = {}
        for n in cal:
            m = models[n]["metrics"].get(centre, {})
            cal_legend[n] = (f"{labels[n]}: in-the-large {tables.fmt_num(m.get('calibration_intercept'), 2) or 'n/a'}, "
                             f"slope {tables.fmt_num(m.get('calibration_slope'), 2) or 'n/a'}, "
                             f"Brier {tables.fmt_num(m.get('brier')) or 'n/a'}, HL P {tables.fmt_p(m.get('hl_p')) or 'n/a'}")
        if cal:
            fig = figures.figure_for((analysis_id, centre, "calibration"), lambda: plots.calibration(
                {n: an.frame(v.get("grouped")) for n, v in cal.items()},
                {n: an.frame(v.get("smoothed")) for n, v in cal.items()}, cal_legend, title="Calibration"))
            figures.chart(fig, f"calibration_{centre}", key="calibration")
            tables.downloads(pd.concat([an.frame(v.get(kind)).assign(model=n, curve=kind) for n, v in cal.items()
                                        for kind in ("grouped", "smoothed")]),
                             f"{analysis_id}_calibration_{centre}", key="calibration-dl")
        else:
            st.info("No calibration curve for this centre.")
    with right:
        st.markdown("**DeLong comparison of AUCs**")
        comparisons = result["comparisons"].get(centre, {})
        delong = pd.DataFrame([{
            "Comparison": f"{labels[c['model_a']]} vs {labels[c['model_b']]}",
            "AUC A": tables.fmt_num(c.get("auc_a")), "AUC B": tables.fmt_num(c.get("auc_b")),
            "Difference": tables.fmt_num(c.get("diff")), "z": tables.fmt_num(c.get("z"), 2), "P": tables.fmt_p(c.get("p"))}
            for c in comparisons.values()])
        if len(delong):
            tables.table(delong, f"delong_{centre}", key="delong",
                         download=pd.DataFrame([{"centre": centre, "comparison": k, **v} for k, v in comparisons.items()]))
            n = sorted({c.get("n") for c in comparisons.values()})
            st.caption(f"Paired DeLong test on the {', '.join(map(str, n))} patients scored by both models (two-sided).")
        else:
            st.caption("No comparison for this centre.")

    st.markdown(f"**Metrics at the training Youden cut-off** \u00b7 {centre}")
    metrics = pd.DataFrame([metric_row(models, cutoffs, n, centre) for n in an.MODEL_NAMES if n in cutoffs])
    raw = pd.DataFrame([{"model": n, "centre": centre, **models[n]["metrics"].get(centre, {})}
                        for n in an.MODEL_NAMES if n in cutoffs])
    tables.table(metrics, f"metrics_{centre}", key="metrics", download=raw)
