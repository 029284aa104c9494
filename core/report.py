"""Self-contained HTML reports of an analysis or an external validation.

Laid out along the TRIPOD+AI items that apply to a development-and-validation study of a
prediction model: participants and outcome, predictors (clinical and radiomics with the
extraction settings), sample size and missing data, the analysis methods, the model
equations, performance with confidence intervals (discrimination, calibration, clinical
utility) on every cohort, and the software and settings used. Figures are plotly, with the
plotly library embedded once, so the file opens offline.
"""
from __future__ import annotations

import html
import json
import math
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pandas as pd

from core.versions import package_versions

MODELS = ("clinical", "radiomics", "combined")
_CSS = """
body{font-family:system-ui,-apple-system,'Segoe UI',sans-serif;max-width:1100px;margin:2em auto;color:#222;
line-height:1.45;padding:0 1em} h1{color:#1f5f8b} h2{border-bottom:2px solid #1f5f8b;padding-bottom:.2em;margin-top:2em}
h3{color:#1f5f8b} table{border-collapse:collapse;margin:.8em 0;font-size:.9em} th,td{border:1px solid #ccc;
padding:.25em .6em;text-align:left} th{background:#eef3f7} .tripod{color:#777;font-size:.8em;font-weight:normal}
.warn{background:#fff4e5;border-left:4px solid #f0a020;padding:.4em .8em;margin:.5em 0} code{background:#f4f4f4;
padding:0 .3em} .fig{margin:1em 0}
"""


def write_report(result: dict[str, Any], path: str | Path, kind: str = "analysis",
                 segmentation_table: pd.DataFrame | None = None) -> Path:
    """Write the HTML report of ``result`` (an analysis or a validation dict) to ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render(result, kind, segmentation_table), encoding="utf-8")
    return path


def render(result: dict[str, Any], kind: str = "analysis", segmentation_table: pd.DataFrame | None = None) -> str:
    """The report as one HTML string."""
    from plotly.offline import get_plotlyjs

    body = _validation(result) if kind == "validation" else _analysis(result, segmentation_table)
    title = ("External validation of a PTLF prediction model" if kind == "validation"
             else "Development and validation of PTLF prediction models")
    return (f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>{title}</title>"
            f"<style>{_CSS}</style><script>{get_plotlyjs()}</script></head><body>"
            f"<h1>{title}</h1><p>Post-TACE liver failure (PTLF) in hepatocellular carcinoma, predicted from "
            f"pre-treatment CT radiomics and clinical variables. Generated "
            f"{datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC.</p>{body}</body></html>")


# ------------------------------------------------------------------------------ analysis
def _analysis(r: dict, segmentation_table: pd.DataFrame | None) -> str:
    params, data = r["params"], r.get("data", {})
    centres = list(r["cohorts"])
    train = r["training"]["name"]
    parts = [_section("Source of data and participants", "5, 6, 20", _cohort_table(r["cohorts"], data.get("roles", {}))),
             _section("Outcome", "7", "<p>PTLF after TACE (0 = no, 1 = yes), as recorded in each centre's clinical "
                      "table; assessed without knowledge of the radiomics predictors.</p>"),
             _section("Predictors", "8", _predictors(r, data)),
             _section("Sample size and missing data", "9, 10", _sample_size(r)),
             _section("Statistical analysis methods", "12", _methods(params)),
             _section("Table 2. Clinical characteristics by outcome (training cohort)", "20",
                      _table(pd.DataFrame(r["clinical"]["univariate"]), drop_prefix=("shapiro_p", "p"),
                             rename={"p_text": "P"}))]
    multi = pd.DataFrame(r["clinical"]["multivariate"])
    table3 = _table(multi, columns=["variable", "beta", "se", "or", "or_low", "or_high", "p"]) if len(multi) else "<p>none</p>"
    parts.append(_section("Table 3. Multivariate logistic regression (training cohort)", "20", table3 + (
        _figure(_plots().forest(multi[multi["variable"] != "Intercept"].rename(
            columns={"or_low": "ci_low", "or_high": "ci_high"}), title="Odds ratios")) if len(multi) > 1 else "")
        + f"<p>Independent clinical predictors: <b>{', '.join(r['clinical']['independent_predictors']) or 'none'}</b></p>"))
    if segmentation_table is not None and len(segmentation_table):
        parts.insert(5, _section("Table 1. Segmentation performance", "11", _table(segmentation_table.reset_index())))
    parts.append(_section("Radiomics feature selection", "12, 21", _selection(r["radiomics"])))
    parts.append(_section("Model specification", "22", _equations(r)))
    parts.append(_section("Model performance", "23", _performance(r, centres)))
    parts.append(_section("Nomogram of the combined model", "22", _figure(_plots().nomogram(r["nomogram"]))))
    parts.append(_section("Warnings and limitations", "27", _warnings(r.get("warnings", []))))
    parts.append(_section("Software and settings", "18", _software(params, data)))
    return f"<p>Training cohort: <b>{html.escape(train)}</b>; validation: {html.escape(', '.join(c for c in centres if c != train)) or 'none'}.</p>" + "".join(parts)


def _validation(r: dict) -> str:
    b, centre = r["bundle"], r["center"]
    intro = (f"<p>Bundle <code>{b['bundle_id']}</code> (SHA-256 <code>{b['sha256'][:16]}…</code>), trained on "
             f"{html.escape(str(b['training']['centre']))} ({b['training']['n']} patients, {b['training']['events']} "
             f"events), validated on <b>{html.escape(centre)}</b> of study {html.escape(r['study'])}.</p>")
    if r.get("settings_override"):
        intro += f"<div class='warn'><b>Extraction settings override.</b> {html.escape(r['settings_override'])}</div>"
    parts = [intro,
             _section("Participants", "5, 6, 20", _cohort_table(r["cohorts"], {centre: "external"})),
             _section("Model equations (as shared)", "22", f"<p><code>{html.escape(b['radscore_formula'])}</code></p>"
                      + _table(pd.DataFrame(b["predictors"]))
                      + "<p>Cut-offs (training Youden): " + ", ".join(f"{k} {v:.3f}" for k, v in b["cutoffs"].items()) + "</p>"),
             _section("Model performance", "23", _performance(r, [centre])),
             _section("Logistic recalibration (shown beside, not instead of, the original models)", "23",
                      _table(pd.DataFrame([{"model": m, **{k: v for k, v in r["models"][m]["recalibrated"].items()
                                                           if not isinstance(v, dict)}} for m in MODELS]))),
             _section("Values outside the training ranges", "20",
                      _table(pd.DataFrame(r["range_warnings"])) if r["range_warnings"] else "<p>none</p>"),
             _section("Warnings", "27", _warnings(r.get("warnings", []))),
             _section("Software", "18", _software({}, {"settings_hash": r["settings_hash"], "mask_source": r["mask_source"]}))]
    return "".join(parts)


# ------------------------------------------------------------------------------- pieces
def _plots():
    from core import plots
    return plots


def _section(title: str, items: str, content: str) -> str:
    return f"<h2>{html.escape(title)} <span class='tripod'>TRIPOD+AI {items}</span></h2>{content}"


def _cohort_table(cohorts: dict, roles: dict) -> str:
    rows = [{"centre": c, "role": roles.get(c, ""), "patients": v["n_patients"], "with outcome": v["n_with_outcome"],
             "events (PTLF)": v["n_events"],
             "event rate": f"{100 * v['n_events'] / v['n_with_outcome']:.1f}%" if v["n_with_outcome"] else "",
             "with features": v["n_with_features"]} for c, v in cohorts.items()]
    return _table(pd.DataFrame(rows))


def _predictors(r: dict, data: dict) -> str:
    ext = data.get("extraction") or {}
    settings = ext.get("setting", {})
    image_types = ", ".join(ext.get("imageType", {})) or "unknown"
    return (f"<p>Clinical candidates: the clinical table's columns ({len(r['clinical']['univariate'])} rows in Table 2). "
            f"Radiomics: PyRadiomics {ext.get('pyradiomics', '')} features of the non-tumoral liver (label 1) and the "
            f"tumour (label 2) from <b>{html.escape(str(data.get('mask_source', '')))}</b> masks; image types: "
            f"{html.escape(image_types)}; bin width {settings.get('binWidth', '?')}; resampling "
            f"{settings.get('resampledPixelSpacing') or 'none'}; settings hash <code>{data.get('settings_hash', '')[:16]}</code>.</p>")


def _sample_size(r: dict) -> str:
    train = r["training"]
    k = len(r["clinical"]["independent_predictors"]) + 1
    missing = pd.DataFrame(r["clinical"]["univariate"])
    missing = missing[missing.get("missing", 0) > 0] if "missing" in missing else missing.iloc[0:0]
    text = (f"<p>Training: {train['n_with_outcome']} patients with {train['n_events']} events; the combined model has "
            f"{k} predictors, {train['n_events'] / max(k, 1):.1f} events per predictor.</p>")
    if len(missing):
        text += "<p>Missing values (complete-case analysis):</p>" + _table(
            missing[["variable", "missing"] + [c for c in missing.columns if c.startswith("missing_")]].drop_duplicates("variable"))
    else:
        text += "<p>No missing clinical values in the training cohort.</p>"
    return text


def _methods(p: dict) -> str:
    return ("<ul>"
            "<li>Clinical: Shapiro-Wilk per group chooses mean ± SD with Student's t-test or median (IQR) with "
            "Mann-Whitney U; categories by chi-square or Fisher's exact test. Variables with "
            f"P &lt; {p['clinical_p']} enter a multivariate logistic regression; those with P &lt; {p['multivariate_p']} "
            "are the independent predictors (Firth-penalised when separation occurs).</li>"
            f"<li>Radiomics (training cohort only): z-score; Spearman |rho| &gt; {p['spearman']} removes the member of a "
            f"pair less associated with PTLF; Mann-Whitney P &lt; {p['univariate_p']}; LASSO logistic with "
            f"{p['cv_folds']}-fold cross-validation, lambda.{p['lambda_choice']}; the {p['top_k']} largest |coefficients|; "
            "a logistic model on them gives the Radscore.</li>"
            "<li>Models: clinical, radiomics (Radscore) and combined logistic models; cut-offs by Youden's index on "
            "the training cohort.</li>"
            "<li>Evaluation: AUC with DeLong 95% CI and paired DeLong tests; sensitivity, specificity, PPV, NPV at the "
            "training cut-off; calibration intercept and slope, Brier score, Hosmer-Lemeshow "
            f"({p['hl_groups']} groups); decision curves; optimism by {p['bootstrap']} bootstrap replicates.</li></ul>")


def _selection(rad: dict) -> str:
    counts = list(rad["counts"].items())
    out = _figure(_plots().funnel(counts, title="Features after each step"))
    cv = pd.DataFrame(rad.get("lasso_cv") or [])
    if len(cv):
        out += _figure(_plots().cv_curve(cv.rename(columns={"cv_mean": "mean", "cv_se": "se", "n_nonzero": "nonzero"}),
                                         rad.get("lambda_min"), rad.get("lambda_1se"), title="LASSO cross-validation"))
    selected = pd.DataFrame(rad["selected"])
    if len(selected):
        out += _figure(_plots().weights(selected, title="Selected features (Radscore coefficients)"))
        out += _table(selected)
    return out + f"<p><code>{html.escape(rad['radscore_formula'])}</code></p>"


def _equations(r: dict) -> str:
    out = ""
    for name in MODELS:
        coef = pd.DataFrame(r["models"][name]["coefficients"])
        terms = " ".join(f"{'-' if b < 0 else '+'} {abs(b):.4f} × {v}" for v, b in zip(coef["variable"], coef["beta"])
                         if v != "Intercept")
        intercept = coef.loc[coef["variable"] == "Intercept", "beta"]
        out += (f"<h3>{name.capitalize()} model</h3><p><code>logit(PTLF) = "
                f"{float(intercept.iloc[0]) if len(intercept) else 0:.4f} {terms}</code> "
                f"(fitted by {r['models'][name].get('method', '')})</p>")
        out += _table(coef)
    return out


def _performance(r: dict, centres: list[str]) -> str:
    rows = []
    for name in MODELS:
        for centre in centres:
            m = r["models"][name]["metrics"].get(centre, {})
            rows.append({"cohort": centre, "model": name, "n": m.get("n"), "AUC (95% CI)": _ci(m, "auc"),
                         "sensitivity": m.get("sensitivity"), "specificity": m.get("specificity"),
                         "accuracy": m.get("accuracy"), "PPV": m.get("ppv"), "NPV": m.get("npv"),
                         "calibration intercept": m.get("calibration_intercept"),
                         "calibration slope": m.get("calibration_slope"), "Brier": m.get("brier"),
                         "Hosmer-Lemeshow P": m.get("hl_p")})
    out = _table(pd.DataFrame(rows))
    comparisons = [{"cohort": c, "comparison": k.replace("_", " "), "AUC A": v.get("auc_a"), "AUC B": v.get("auc_b"),
                    "z": v.get("z"), "P": v.get("p")} for c in centres for k, v in r["comparisons"].get(c, {}).items()]
    out += "<h3>DeLong comparisons</h3>" + _table(pd.DataFrame(comparisons))
    optimism = {name: r["models"][name].get("optimism") for name in MODELS if r["models"][name].get("optimism")}
    if optimism:
        out += "<h3>Optimism-corrected performance on the training cohort (bootstrap)</h3>" + _table(pd.DataFrame(
            [{"model": n, "metric": k, **v} for n, o in optimism.items() for k, v in o.items()]))
    plots = _plots()
    for centre in centres:
        curves = r["curves"].get(centre, {})
        legend = {n: f"{n} AUC {_ci(r['models'][n]['metrics'].get(centre, {}), 'auc')}" for n in MODELS}
        roc = {n: pd.DataFrame(v) for n, v in curves.get("roc", {}).items()}
        cal = curves.get("calibration", {})
        decision = pd.DataFrame(curves.get("decision") or [])
        out += f"<h3>{html.escape(centre)}</h3>"
        if roc:
            out += _figure(plots.roc(roc, legend, title=f"ROC, {centre}"))
        if cal:
            out += _figure(plots.calibration({n: pd.DataFrame(v["grouped"]) for n, v in cal.items()},
                                             {n: pd.DataFrame(v["smoothed"]) for n, v in cal.items()},
                                             title=f"Calibration, {centre}"))
        if len(decision):
            dca = {n: decision[["threshold", n, "treat_all"]].rename(columns={n: "net_benefit"})
                   for n in MODELS if n in decision}
            out += _figure(plots.decision_curves(dca, title=f"Decision curves, {centre}"))
    return out


def _software(params: dict, data: dict) -> str:
    versions = package_versions()
    settings = {k: v for k, v in params.items() if k != "dca_thresholds"}
    return (_table(pd.DataFrame([versions])) + "<p>Analysis settings:</p><pre>"
            + html.escape(json.dumps(settings, indent=1, default=str)) + "</pre><p>Data: "
            + html.escape(json.dumps({k: v for k, v in data.items() if k != "extraction"}, default=str)) + "</p>")


def _warnings(warnings: list[str]) -> str:
    if not warnings:
        return "<p>none</p>"
    return "".join(f"<div class='warn'>{html.escape(str(w))}</div>" for w in warnings)


def _ci(m: dict, key: str) -> str:
    value, low, high = m.get(key), m.get(f"{key}_ci_low"), m.get(f"{key}_ci_high")
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    return f"{value:.3f} ({low:.3f}–{high:.3f})"


def _table(df: pd.DataFrame, columns: list[str] | None = None, drop_prefix: tuple[str, ...] = (),
           rename: dict | None = None) -> str:
    if df is None or df.empty:
        return "<p>none</p>"
    if columns:
        df = df[[c for c in columns if c in df.columns]]
    df = df[[c for c in df.columns if not any(c == p or c.startswith(p + "_") for p in drop_prefix)]]
    df = df.rename(columns=rename or {})
    df = df.assign(**{c: df[c].map(_p) for c in df.columns if c in _P_COLUMNS})
    return df.to_html(index=False, na_rep="", float_format=_fmt, border=0, escape=True)


_P_COLUMNS = {"p", "P", "Hosmer-Lemeshow P", "univariate_p", "hl_p"}


def _p(v) -> str:
    if not isinstance(v, (int, float)) or math.isnan(v):
        return "" if v is None or (isinstance(v, float) and math.isnan(v)) else str(v)
    return "<0.001" if v < 0.001 else f"{v:.3f}"


def _fmt(v: float) -> str:
    if abs(v) < 1e-10:
        return "0.000"
    if abs(v) < 0.001:
        return f"{v:.2e}"
    return f"{v:.3f}"


def _figure(fig) -> str:
    return "<div class='fig'>" + fig.to_html(full_html=False, include_plotlyjs=False,
                                             config={"displaylogo": False}) + "</div>"
