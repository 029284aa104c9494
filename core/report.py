"""Self-contained HTML reports of an analysis or an external validation.

Laid out along the TRIPOD+AI items (Collins et al., BMJ 2024;385:e078378; item numbers as its
checklist) that the tool can answer from the data it holds: data source and participants (5a,
6a, 20a, 20b), outcome (8a), predictors (9a, 9b), sample size and missing data (10, 11),
analytical methods and internal validation (12a, 12b, 12c, 12e), model output (15), model
development and specification (21, 22), performance with confidence intervals (23a),
comparison of development and evaluation data (20c), model updating (12f, 24), limitations
(26) and code (18f). What only the authors know (eligibility, dates, blinding of outcome
assessment, ethics, funding) is left to them and said to be so. The validation method, the
bootstrap mode and its replicates, the selection stability and the calibration slope come
first. Figures are plotly, with the plotly library embedded once, so the file opens offline.
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
    fitted = [m for m in MODELS if m in r["models"]]
    parts = [_section("Internal validation at a glance", "12c, 23a", _validation_summary(r)),
             _section("Source of data and participants", "5a, 6a, 20a", _cohort_table(r["cohorts"], data.get("roles", {}))),
             _section("Outcome", "8a", "<p>PTLF after TACE (0 = no, 1 = yes), as recorded in each centre's clinical "
                      "table. How and when it was assessed, and whether the assessors knew the predictors (8b, 8c), "
                      "are not recorded by this tool: state them in the manuscript.</p>"),
             _section("Predictors", "9a, 9b", _predictors(r, data)),
             _section("Sample size and missing data", "10, 11", _sample_size(r)),
             _section("Statistical analysis methods", "12a, 12b, 12c, 12e", _methods(params, r)),
             _section("Table 2. Clinical characteristics by outcome (training cohort)", "20b",
                      _table(pd.DataFrame(r["clinical"]["univariate"]), drop_prefix=("shapiro_p", "p"),
                             rename={"p_text": "P"}))]
    multi = pd.DataFrame(r["clinical"]["multivariate"])
    table3 = _table(multi, columns=["variable", "beta", "se", "or", "or_low", "or_high", "p"]) if len(multi) else "<p>none</p>"
    parts.append(_section("Table 3. Multivariate logistic regression (training cohort)", "12c, 22", table3 + (
        _figure(_plots().forest(multi[multi["variable"] != "Intercept"].rename(
            columns={"or_low": "ci_low", "or_high": "ci_high"}), title="Odds ratios")) if len(multi) > 1 else "")
        + f"<p>Independent clinical predictors: <b>{', '.join(r['clinical']['independent_predictors']) or 'none'}</b></p>"))
    if segmentation_table is not None and len(segmentation_table):
        parts.insert(5, _section("Table 1. Segmentation performance", "9b", _table(segmentation_table.reset_index())))
    if r.get("harmonisation"):
        parts.append(_section("Harmonisation across centres", "7, 12d", _harmonisation(r["harmonisation"])))
    parts.append(_section("Radiomics feature selection", "12c, 21", _selection(r)))
    parts.append(_section("Model specification", "22", _equations(r)))
    parts.append(_section("Model performance", "23a", _performance(r, centres)))
    if r.get("internal_external"):
        parts.append(_section("Internal-external cross-validation: heterogeneity across centres", "12d, 23b",
                              _internal_external(r["internal_external"])))
    if "combined" in fitted and r.get("nomogram"):
        parts.append(_section("Nomogram of the combined model", "15, 22", _figure(_plots().nomogram(r["nomogram"]))))
    parts.append(_section("Warnings and limitations", "26", _warnings(r.get("warnings", []))))
    parts.append(_section("Software and settings", "18f", _software(params, data)))
    return f"<p>Training cohort: <b>{html.escape(train)}</b>; validation: {html.escape(', '.join(c for c in centres if c != train)) or 'none'}.</p>" + "".join(parts)


def _validation_summary(r: dict) -> str:
    """The validation method, bootstrap mode and replicates, corrected AUC and calibration slope,
    and the selection stability: what a reader must see before any other number."""
    params, v = r["params"], r.get("validation") or {}
    mode, replicates = v.get("mode", params.get("bootstrap_refit")), v.get("replicates", params.get("bootstrap", 0))
    if replicates:
        text = (f"<p><b>Bootstrap optimism correction (Harrell), {replicates} replicates"
                + (f", {v.get('n_boot')} usable" if v.get("n_boot") not in (None, replicates) else "") + ", "
                + ("every fitted step repeated in each replicate</b> (clinical selection, z-scores, Spearman and "
                   "univariate filters, LASSO with its cross-validation, top-k, Radscore, the three models), as "
                   "rms::validate repeats its fitting function." if mode == "full" else
                   "final models only</b>: the selected features and clinical predictors were held fixed, so the "
                   "selection's own optimism is not corrected and the figures below flatter the models.")
                + "</p>")
    else:
        text = "<div class='warn'>No bootstrap: the training figures are apparent only and flatter the models.</div>"
    text += ("<p>Feature filters " + ("refitted inside each LASSO CV fold." if params.get("cv_selection") == "inside"
                                      else "applied once before LASSO's CV (as the paper; the CV deviance is optimistic).")
             + f" Radscore coefficients: {html.escape(str(params.get('radscore_coef', 'refit')))}.</p>")
    train = r["training"]["name"]
    rows = []
    for name, model in r["models"].items():
        m = model["metrics"].get(train, {})
        row = {"model": name, "apparent AUC": m.get("auc"), "corrected AUC": m.get("auc_corrected"),
               "corrected calibration slope": m.get("calibration_slope_corrected")}
        for centre in r["cohorts"]:
            if centre != train:
                row[f"AUC {centre}"] = model["metrics"].get(centre, {}).get("auc")
                row[f"calibration slope {centre}"] = model["metrics"].get(centre, {}).get("calibration_slope")
        rows.append(row)
    text += _table(pd.DataFrame(rows))
    for name, why in (r.get("skipped_models") or {}).items():
        text += f"<div class='warn'>{html.escape(name)} model not fitted: {html.escape(why)}</div>"
    stability = pd.DataFrame(v.get("stability") or [])
    if len(stability):
        chosen = stability[stability["in_radscore"]]
        weak = chosen[chosen["frequency"] < 0.5]
        text += (f"<p>Selection stability: the Radscore's {len(chosen)} features were selected in "
                 f"{chosen['frequency'].min():.0%}–{chosen['frequency'].max():.0%} of the replicates' own selections; "
                 + (f"<b>{len(weak)} in fewer than half</b> ({html.escape(', '.join(weak['feature']))})."
                    if len(weak) else "none in fewer than half.") + "</p>")
    return text


def _validation(r: dict) -> str:
    b, centre = r["bundle"], r["center"]
    intro = (f"<p>Bundle <code>{b['bundle_id']}</code> (SHA-256 <code>{b['sha256'][:16]}…</code>), trained on "
             f"{html.escape(str(b['training']['centre']))} ({b['training']['n']} patients, {b['training']['events']} "
             f"events), validated on <b>{html.escape(centre)}</b> of study {html.escape(r['study'])}.</p>")
    intro += _provenance(b)
    if r.get("settings_override"):
        intro += f"<div class='warn'><b>Extraction settings override.</b> {html.escape(r['settings_override'])}</div>"
    parts = [intro,
             _section("Participants", "6a, 20a, 20b", _cohort_table(r["cohorts"], {centre: "external"})),
             _section("Model equations (as shared)", "22", f"<p><code>{html.escape(b['radscore_formula'])}</code></p>"
                      + _table(pd.DataFrame(b["predictors"]))
                      + "<p>Cut-offs (training Youden): " + ", ".join(f"{k} {v:.3f}" for k, v in b["cutoffs"].items()) + "</p>"),
             _section("Model performance", "23a", _performance(r, [centre])),
             _section("Recalibration for this centre (shown beside, not instead of, the models as shared)", "12f, 24",
                      _recalibrations(r.get("recalibration") or {}, centre)),
             _section("Values outside the training ranges", "20c",
                      _table(pd.DataFrame(r["range_warnings"])) if r["range_warnings"] else "<p>none</p>"),
             _section("Warnings", "26", _warnings(r.get("warnings", []))),
             _section("Software", "18f", _software({}, {"settings_hash": r["settings_hash"], "mask_source": r["mask_source"]}))]
    return "".join(parts)


def _provenance(b: dict) -> str:
    """Who signed the bundle and whether the key is trusted; its recalibration and parent, if any."""
    p = b.get("provenance") or {"status": "unsigned", "ok": False, "description": "unsigned"}
    text = (f"<p>Signature: {html.escape(p['description'])}.</p>" if p["ok"] else
            f"<div class='warn'><b>Signature not trusted.</b> The bundle is {html.escape(p['description'])}; it was "
            "registered before bundles were signed, or accepted explicitly (see the study's audit log).</div>")
    rec = b.get("recalibration")
    if rec:
        parent = rec.get("parent_signature") or {}
        signer = parent.get("signer") or {}
        text += (f"<p>This bundle is {html.escape(b.get('recalibration_text') or '')}: parent SHA-256 "
                 f"<code>{rec['parent_sha256']}</code>, "
                 + (f"signed by {html.escape(repr(signer.get('name')))}, key {html.escape(str(parent.get('fingerprint')))} "
                    f"({html.escape(str(parent.get('status')))} where it was recalibrated)" if parent else "unsigned")
                 + ".</p>")
    return text


def _recalibrations(recalibration: dict, centre: str) -> str:
    """Per method: the updates with their CIs, the recalibrated models' calibration, and the plot."""
    if not recalibration:
        return "<p>none</p>"
    out = ("<p>Each model recalibrated on its own linear predictor lp by maximum likelihood on this centre's "
           "patients; figures after recalibration are apparent (estimated and evaluated on the same patients).</p>")
    for method, rec in recalibration.items():
        rows = []
        for name, r in rec["models"].items():
            after = r.get("metrics") or {}
            slope = {"slope b": r.get("slope"), "b CI low": r.get("slope_ci_low"),
                     "b CI high": r.get("slope_ci_high")} if method == "logistic" else {}
            rows.append({"model": name, "intercept a": r.get("intercept"), "a CI low": r.get("intercept_ci_low"),
                         "a CI high": r.get("intercept_ci_high"), **slope, "n": r.get("n"), "events": r.get("events"),
                         "after: calibration-in-the-large": after.get("calibration_intercept"),
                         "after: calibration slope": after.get("calibration_slope"),
                         "after: Brier": after.get("brier"), "Hosmer-Lemeshow P": after.get("hl_p"),
                         "cannot be saved": r.get("note") or r.get("why_not") or ""})
        table = pd.DataFrame(rows)
        out += f"<h3>{html.escape(rec['description'])}</h3>" + _table(
            table.drop(columns=[] if table["cannot be saved"].any() else ["cannot be saved"]))
        cal = rec["curves"]["calibration"]
        if cal:
            out += _figure(_plots().calibration({n: pd.DataFrame(v["grouped"]) for n, v in cal.items()},
                                                {n: pd.DataFrame(v["smoothed"]) for n, v in cal.items()},
                                                {n: f"{n} recalibrated" for n in cal},
                                                title=f"Calibration after recalibration ({method}), {centre}"))
        out += _warnings(rec.get("warnings") or []) if rec.get("warnings") else ""
    return out


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


def _methods(p: dict, r: dict) -> str:
    cv = ("refitted on the training part of every fold, so the held-out patients never chose their own features"
          if p.get("cv_selection") == "inside" else "applied once on all training patients before the CV, as the paper did")
    coef = {"refit": "an unpenalised logistic model refitted on them gives the Radscore (as the paper)",
            "lasso_min": "their LASSO coefficients at lambda.min (shrunken) give the Radscore",
            "lasso_1se": "their LASSO coefficients at lambda.1se (shrunken) give the Radscore"}.get(
        p.get("radscore_coef", "refit"))
    return ("<ul>"
            "<li>Data use (12a): the training centre fits everything; every other centre is only scored.</li>"
            "<li>Clinical (12b, 12c): Shapiro-Wilk per group chooses mean ± SD with Student's t-test or median (IQR) "
            "with Mann-Whitney U; categories by chi-square or Fisher's exact test. Variables with "
            f"P &lt; {p['clinical_p']} enter a multivariate logistic regression; those with P &lt; {p['multivariate_p']} "
            "are the independent predictors (Firth-penalised when separation occurs). Continuous predictors enter "
            "linearly.</li>"
            f"<li>Radiomics (training cohort only): z-score; Spearman |rho| &gt; {p['spearman']} removes the member of a "
            f"pair less associated with PTLF; Mann-Whitney P &lt; {p['univariate_p']}; LASSO logistic (glmnet's path) "
            f"with {p['cv_folds']}-fold cross-validation, the filters {cv}; lambda.{p['lambda_choice']}; the "
            f"{p['top_k']} largest |coefficients|; {coef}.</li>"
            "<li>Models: clinical, radiomics (Radscore) and combined logistic models; cut-offs by Youden's index on "
            "the training cohort.</li>"
            "<li>Internal validation (12c): " + _validation_method(p) + "</li>"
            "<li>Evaluation (12e): AUC with DeLong 95% CI and paired DeLong tests; sensitivity, specificity, PPV, NPV "
            "at the training cut-off; calibration-in-the-large and calibration slope (logistic recalibration), Brier "
            f"score, Hosmer-Lemeshow ({p['hl_groups']} groups); decision curves"
            + (f" with {p.get('dca_bootstrap')} bootstrap replicates for 95% bands" if p.get("dca_bootstrap") else "")
            + ".</li></ul>")


def _harmonisation(h: dict) -> str:
    values = pd.DataFrame(h["values"])
    before, after = (values[values["when"] == w].reset_index(drop=True) for w in ("before", "after"))
    figure = _figure(_plots().harmonisation(before[h["shown"]], after[h["shown"]], before["centre"], h["shown"],
                                            title="Most shifted features by centre, before and after"))
    return (f"<p>{html.escape(h['method'])} of {h['n_features']} radiomics features, reference centre "
            f"<b>{html.escape(h['reference'])}</b>, fitted on the training centre(s) only; each validating centre was "
            "harmonised from its own features (its outcomes never read), as a centre receiving the model would. "
            "ComBat also removes real differences in case mix between centres.</p>" + figure
            + _table(pd.DataFrame(h["shifts"]).head(30)))


def _internal_external(iecv: dict) -> str:
    per_centre, pooled = pd.DataFrame(iecv["per_centre"]), pd.DataFrame(iecv["pooled"])
    out = ("<p>Each training centre was left out in turn; the models developed on the others (the whole "
           "procedure) were validated on it. The centres' AUC (logit scale), calibration slope and "
           "calibration-in-the-large are pooled by random-effects meta-analysis (REML) with the 95% prediction "
           "interval for a new centre.</p>")
    if len(pooled):
        out += _table(pooled, columns=["model", "metric", "estimate", "ci_low", "ci_high", "pi_low", "pi_high",
                                       "tau2", "i2", "k"])
        for metric, label, ref in (("auc", "AUC", 0.5), ("calibration_slope", "Calibration slope", 1.0)):
            match = pooled[(pooled["model"] == "combined") & (pooled["metric"] == metric)]
            rows = per_centre[per_centre["model"] == "combined"]
            if len(match) and len(rows):
                out += _figure(_plots().centre_forest(rows, match.iloc[0].to_dict(), metric, label, ref,
                                                      title=f"Combined model: {label} by centre left out"))
    out += _table(per_centre, columns=["centre", "model", "n", "n_events", "auc", "auc_ci_low", "auc_ci_high",
                                       "calibration_slope", "calibration_intercept"])
    return out + "".join(f"<div class='warn'>{html.escape(n)}</div>" for n in iecv.get("notes") or [])


def _validation_method(p: dict) -> str:
    if not p.get("bootstrap"):
        return "none (apparent performance only)."
    return (f"Harrell's bootstrap optimism, {p['bootstrap']} replicates, "
            + ("repeating every fitted step (selection included)." if p.get("bootstrap_refit") == "full"
               else "refitting the final models only with the selected features fixed (optimistic)."))


def _selection(r: dict) -> str:
    rad = r["radiomics"]
    if rad.get("skipped"):
        return f"<div class='warn'>No Radscore: {html.escape(rad['skipped'])}</div>"
    counts = list(rad["counts"].items())
    out = _figure(_plots().funnel(counts, title="Features after each step"))
    cv = pd.DataFrame(rad.get("lasso_cv") or [])
    if len(cv):
        out += _figure(_plots().cv_curve(cv.rename(columns={"cv_mean": "mean", "cv_se": "se", "n_nonzero": "nonzero"}),
                                         rad.get("lambda_min"), rad.get("lambda_1se"), title="LASSO cross-validation"))
    selected = pd.DataFrame(rad["selected"])
    stability = pd.DataFrame((r.get("validation") or {}).get("stability") or [])
    if len(selected):
        out += _figure(_plots().weights(selected, title="Selected features (Radscore coefficients)"))
        if len(stability):
            selected = selected.merge(stability[["feature", "frequency"]].rename(
                columns={"frequency": "selected in replicates"}), on="feature", how="left")
            order = list(selected.reindex(selected["coef"].abs().sort_values().index)["feature"])
            out += _figure(_plots().stability(stability, order=order, title="Selection stability (bootstrap)"))
        out += _table(selected)
    out += f"<p><code>{html.escape(rad['radscore_formula'])}</code></p>"
    icc = (r.get("fitted") or {}).get("selector", {}) or {}
    if icc.get("icc"):
        from core.radiomics.robustness import icc_frame, robust_summary

        params = r["params"]
        table = icc_frame(icc["icc"])
        out += (f"<h3>Reproducibility</h3><p>{html.escape(params['icc_kind'])} of every feature between the analysis' "
                f"masks and {html.escape(str(params.get('icc_against')))} masks; features below "
                f"{params['icc_threshold']} were dropped.</p>"
                + _figure(_plots().icc_distribution(table, params["icc_threshold"]))
                + _table(robust_summary(table.dropna(subset=["icc"]), params["icc_threshold"])))
    shrink = pd.DataFrame(r.get("shrinkage") or [])
    if len(shrink):
        out += ("<h3>Radscore coefficients: what the refit costs</h3><p>Each Radscore variant used directly as a risk "
                "(expit of the score) on every cohort; a calibration slope below 1 on an unseen cohort means "
                "overfitted, too extreme predictions.</p>" + _table(shrink))
    return out


def _equations(r: dict) -> str:
    out = ""
    for name in (m for m in MODELS if m in r["models"]):
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
    fitted = [m for m in MODELS if m in r["models"]]
    for name in fitted:
        for centre in centres:
            m = r["models"][name]["metrics"].get(centre, {})
            rows.append({"cohort": centre, "model": name, "n": m.get("n"), "AUC (95% CI)": _ci(m, "auc"),
                         "sensitivity": m.get("sensitivity"), "specificity": m.get("specificity"),
                         "accuracy": m.get("accuracy"), "PPV": m.get("ppv"), "NPV": m.get("npv"),
                         "calibration-in-the-large": m.get("calibration_intercept"),
                         "recalibration intercept (rms Intercept)": m.get("recalibration_intercept"),
                         "calibration slope": m.get("calibration_slope"), "Brier": m.get("brier"),
                         "Hosmer-Lemeshow df": m.get("hl_df"), "Hosmer-Lemeshow P": m.get("hl_p")})
    out = _table(pd.DataFrame(rows)) + ("<p>Hosmer-Lemeshow degrees of freedom: g - 2 on the cohort a model was "
                                        "fitted on, g on the cohorts it was not fitted on.</p>")
    comparisons = [{"cohort": c, "comparison": k.replace("_", " "), "AUC A": v.get("auc_a"), "AUC B": v.get("auc_b"),
                    "z": v.get("z"), "P": v.get("p")} for c in centres for k, v in r["comparisons"].get(c, {}).items()]
    out += "<h3>DeLong comparisons</h3>" + _table(pd.DataFrame(comparisons))
    optimism = {name: r["models"][name].get("optimism") for name in fitted if r["models"][name].get("optimism")}
    if optimism:
        out += (f"<h3>Optimism-corrected performance on the training cohort (bootstrap)</h3><p>"
                f"{_validation_method(r.get('params') or {})}</p>" + _table(pd.DataFrame(
                    [{"model": n, "metric": k, **v} for n, o in optimism.items() for k, v in o.items()])))
    plots = _plots()
    for centre in centres:
        curves = r["curves"].get(centre, {})
        legend = {n: f"{n} AUC {_ci(r['models'][n]['metrics'].get(centre, {}), 'auc')}" for n in fitted}
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
            dca = {n: decision.assign(net_benefit=decision[n], **{
                f"net_benefit_{b}": decision[f"{n}_{b}"] for b in ("low", "high") if f"{n}_{b}" in decision})
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
