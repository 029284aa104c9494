"""Clinical: the univariate table by outcome (paper's Table 2) and the multivariate logistic
regression of the significant variables (Table 3) with a forest plot of odds ratios."""
import pandas as pd
import streamlit as st

from core.cohort.catalogue import BY_NAME
from core.stats.clinical import multivariate_logistic, univariate_table
from core.stats.logistic import INTERCEPT
from dashboard import analysis_ui as an
from core import plots
from dashboard import figures, session, tables

st.title("Clinical")
study = session.current_study()
cols = st.columns([2, 1, 1], vertical_alignment="bottom")
with cols[0]:
    center = session.pick_center(key="clin_center")
if center is None:
    st.stop()
analysis_id, result = an.current()
use_stored = (result is not None and result["training"]["name"] == center
              and bool(result["clinical"].get("multivariate")))
alpha = cols[1].number_input("Entry P (univariate \u2192 multivariate)", 0.001, 1.0, 0.05, 0.01, format="%.3f",
                             key="clin_alpha", disabled=use_stored,
                             help="For a centre the stored analysis was not trained on.")
method = cols[2].selectbox("Logistic fit", ["auto", "ml", "firth"], key="clin_method", disabled=use_stored,
                           help="auto: maximum likelihood, Firth's penalised likelihood under separation.")


def label(variable: str) -> str:
    var = BY_NAME.get(variable)
    if var is None:
        return variable
    return f"{var.label} ({var.unit})" if var.unit else var.label


def term_label(variable: str, term: str) -> str:
    """'ascites[yes]' of variable ascites -> 'Ascites: yes'."""
    if term == variable:
        return label(variable)
    level = term[len(variable) + 1:-1] if term.startswith(f"{variable}[") and term.endswith("]") else term
    return f"{label(variable)}: {level}"


def clinical_tables(study, center: str, alpha: float, method: str) -> dict:
    """Both tables of one centre, computed by core.stats.clinical (cached by the page)."""
    df = study.clinical(center)
    uni = univariate_table(df, "ptlf")
    significant = uni.significant(alpha)
    multi = multivariate_logistic(df, "ptlf", significant, alpha=alpha, method=method) if significant else None
    return {"univariate": uni.summary, "labels": list(uni.labels), "n": uni.n, "excluded": len(uni.excluded),
            "significant": significant, "multivariate": None if multi is None else multi.summary,
            "independent": [] if multi is None else multi.independent_predictors,
            "warnings": [] if multi is None else list(multi.warnings),
            "detail": None if multi is None else f"{multi.n_complete} complete cases; fit: {multi.fit.method}"}


def stored_tables(result: dict) -> dict:
    """The same tables as the stored analysis computed them on its training patients."""
    clin = result["clinical"]
    uni = an.frame(clin["univariate"])
    multi = an.frame(clin["multivariate"])
    details = clin.get("multivariate_details") or {}
    labels = clin["univariate_groups"]["labels"]
    significant = [v for v in dict.fromkeys(multi["variable"]) if v != INTERCEPT] if len(multi) else []
    return {"univariate": uni, "labels": labels, "n": clin["univariate_groups"]["n"], "excluded": 0,
            "significant": significant, "multivariate": multi if len(multi) else None,
            "independent": clin["independent_predictors"], "warnings": list(details.get("warnings") or []),
            "detail": (f"{details.get('n_complete', '?')} complete cases; fit: {details.get('method', '?')}"
                       if details else None)}


if use_stored:
    clin = stored_tables(result)
    params = result["params"]
    alpha = params.get("clinical_p", alpha)
    st.caption(f"From the stored analysis {analysis_id} (its training patients; entry P {params.get('clinical_p')}, "
               f"multivariate P {params.get('multivariate_p')}). Change them under Settings on the Models page.")
else:
    clin = session.cached_call(clinical_tables, center, float(alpha), method, key=session.center_key(center))
    if result is not None and result["training"]["name"] == center and result["params"].get("clinical_predictors"):
        st.info(f"The stored analysis {analysis_id} used clinical predictors chosen by hand ("
                f"{', '.join(label(v) for v in result['params']['clinical_predictors'])}); the tables below are "
                "computed here from all of the centre's patients.", icon=":material/info:")
labels = clin["labels"]

st.subheader("Univariate analysis")
n0, n1 = clin["n"][labels[0]], clin["n"][labels[1]]
s = clin["univariate"]
table2 = pd.DataFrame({
    "Characteristic": [label(v) if not lv else f"{label(v)}: {lv}" for v, lv in zip(s["variable"], s["level"])],
    "Statistic": s["statistic"],
    f"No PTLF (n={n0})": s[labels[0]],
    f"PTLF (n={n1})": s[labels[1]],
    "P": s["p_text"],
    "Test": s["test"],
    "Missing": s["missing"],
})
first = ~s["variable"].duplicated()
table2.loc[~first.to_numpy(), ["P", "Test"]] = ""
st.caption(f"{center}: {n0 + n1} patients, {n1} with PTLF. Continuous variables: mean \u00b1 SD (t-test) when "
           "Shapiro-Wilk accepts normality in both groups, else median (IQR) (Mann-Whitney U); categories: n (%) "
           "(chi-square, or Fisher's exact test for small expected counts).")
tables.table(table2, f"table2_{center}", key="table2", height="content",
             download=table2.assign(p_value=s["p"].where(first.to_numpy())))
if clin["excluded"]:
    st.caption(f"{clin['excluded']} patient(s) without an outcome left out.")

st.subheader("Multivariate logistic regression")
multi = clin["multivariate"]
if multi is None:
    st.info(f"No clinical variable has P < {alpha:g} in the univariate analysis; nothing to enter.")
    st.stop()
st.caption(f"Variables with univariate P < {alpha:g}: {', '.join(label(v) for v in clin['significant'])}. "
           + (clin["detail"] or ""))
rows = multi[multi["term"] != INTERCEPT]
table3 = pd.DataFrame({
    "Variable": [term_label(v, t) for v, t in zip(rows["variable"], rows["term"])],
    "\u03b2": rows["beta"].map(lambda x: tables.fmt_num(x, 3)),
    "SE": rows["se"].map(lambda x: tables.fmt_num(x, 3)),
    "OR (95% CI)": [tables.fmt_ci(o, lo, hi, 3) for o, lo, hi in zip(rows["or"], rows["or_low"], rows["or_high"])],
    "P": rows["p"].map(tables.fmt_p),
})
tables.table(table3, f"table3_{center}", key="table3",
             download=table3.assign(beta=rows["beta"].to_numpy(), se=rows["se"].to_numpy(),
                                    odds_ratio=rows["or"].to_numpy(), ci_low=rows["or_low"].to_numpy(),
                                    ci_high=rows["or_high"].to_numpy(), p_value=rows["p"].to_numpy()))
indep = clin["independent"]
if indep:
    st.success(f"Independent predictors (P < {alpha:g}): {', '.join(label(v) for v in indep)}",
               icon=":material/check_circle:")
else:
    st.warning(f"No variable keeps P < {alpha:g} in the multivariate model.")
for note in clin["warnings"]:
    st.caption(f"\u26a0 {note}")
forest = pd.DataFrame({"variable": table3["Variable"].to_numpy(), "or": rows["or"].to_numpy(),
                       "ci_low": rows["or_low"].to_numpy(), "ci_high": rows["or_high"].to_numpy(),
                       "p": rows["p"].to_numpy()})
left, _ = st.columns([3, 1])
with left:
    figures.chart(figures.figure(plots.forest, forest, title="Odds ratios (95% CI) per unit or against the reference level"),
                 f"forest_{center}", key="forest")
