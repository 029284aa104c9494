"""Clinical tables by outcome: the univariate table (paper's Table 2) and the multivariate
logistic regression on the significant variables (paper's Table 3).

Univariate rules: a continuous variable is summarised as mean ± SD and compared by t-test when
Shapiro-Wilk does not reject normality (P > alpha_normal) in both outcome groups, otherwise as
median (IQR) with the Mann-Whitney U test (two-sided; normal approximation with ties and
continuity correction as SPSS's asymptotic P; exact when a group has <= 8 patients and no
ties). Categorical variables (strings, booleans, numeric 0/1 columns) are counts (% of
non-missing in the group) with the chi-square test (Yates-corrected for 2x2, as R's
chisq.test), or Fisher's exact test when an expected count is below ``fisher_below``.
Missing values are counted per group.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import stats
from scipy.special import gammaln

from core.stats._checks import binary_outcome
from core.stats._json import jsonable
from core.stats.design import Design, is_binary_numeric, is_categorical
from core.stats.logistic import INTERCEPT, LogitFit, fit_logistic


def _fmt(x: float, digits: int) -> str:
    return f"{x:.{digits}f}"


def format_p(p: float) -> str:
    """P value as text: '<0.001' below 0.001, else three decimals ('' when missing)."""
    if p is None or not np.isfinite(p):
        return ""
    return "<0.001" if p < 0.001 else f"{p:.3f}"


MAX_TABLES = 2_000_000


def fisher_exact_rx2(table) -> float:
    """Two-sided Fisher(-Freeman-Halton) exact P of an R x 2 table, as R's fisher.test: the
    total probability, given the margins, of the tables no more probable than the observed
    one (relative tolerance 1e-7). Raises ValueError beyond MAX_TABLES candidate tables."""
    table = np.asarray(table, dtype=int)
    rows, events = table.sum(axis=1), int(table[:, 1].sum())
    if table.shape[0] == 2:
        return float(stats.fisher_exact(table).pvalue)
    log_choose = [gammaln(r + 1) - gammaln(np.arange(r + 1) + 1) - gammaln(r - np.arange(r + 1) + 1) for r in rows]
    remaining = np.cumsum(rows[::-1])[::-1]
    partial, logp = np.zeros(1, dtype=int), np.zeros(1)
    for i, r in enumerate(rows[:-1]):
        x = np.arange(min(r, events) + 1)
        partial = (partial[:, None] + x[None, :]).ravel()
        logp = (logp[:, None] + log_choose[i][x][None, :]).ravel()
        keep = (partial <= events) & (events - partial <= remaining[i + 1])
        partial, logp = partial[keep], logp[keep]
        if partial.size > MAX_TABLES:
            raise ValueError("table too large for the exact test")
    logp = logp + log_choose[-1][events - partial]
    logp -= gammaln(rows.sum() + 1) - gammaln(events + 1) - gammaln(rows.sum() - events + 1)
    observed = sum(log_choose[i][table[i, 1]] for i in range(len(rows))) - (
        gammaln(rows.sum() + 1) - gammaln(events + 1) - gammaln(rows.sum() - events + 1))
    probs = np.exp(logp)
    return float(min(1.0, probs[probs <= np.exp(observed) * (1 + 1e-7)].sum()))


@dataclass(frozen=True)
class UnivariateResult:
    """Univariate table. ``summary`` columns: variable, level, statistic, overall, one
    formatted column per outcome group (``labels``), missing, missing_<label> per group,
    p, p_text, test, and shapiro_p_<label> per group (continuous variables).
    ``n`` gives the group sizes; ``excluded`` the patients without an outcome."""
    summary: pd.DataFrame
    outcome: str
    labels: tuple[str, str]
    n: dict
    excluded: tuple = ()

    @property
    def p_values(self) -> pd.Series:
        """P value per variable."""
        return self.summary.groupby("variable", sort=False)["p"].first()

    def significant(self, alpha: float = 0.05) -> list[str]:
        """Variables with P < alpha, in table order."""
        p = self.p_values
        return p.index[p < alpha].tolist()

    def to_dict(self) -> dict:
        return jsonable({"outcome": self.outcome, "labels": list(self.labels), "n": self.n,
                         "excluded": list(self.excluded), "rows": self.summary})


def _mean_sd(s: pd.Series, digits: int) -> str:
    return f"{_fmt(s.mean(), digits)} ± {_fmt(s.std(ddof=1), digits)}" if len(s) else ""


def _median_iqr(s: pd.Series, digits: int) -> str:
    """Median (Q1–Q3), quartiles by linear interpolation (R's default, type 7)."""
    if not len(s):
        return ""
    q1, q2, q3 = np.quantile(s, [0.25, 0.5, 0.75])
    return f"{_fmt(q2, digits)} ({_fmt(q1, digits)}–{_fmt(q3, digits)})"


def _continuous_rows(v: str, groups: list[pd.Series], x_all: pd.Series, labels, alpha_normal: float,
                     equal_var: bool, digits: int) -> list[dict]:
    shapiro = [stats.shapiro(g).pvalue if len(g) >= 3 and g.nunique() > 1 else np.nan for g in groups]
    if all(np.isfinite(p) and p > alpha_normal for p in shapiro):
        stat, describe = "mean ± SD", _mean_sd
        enough = all(len(g) >= 2 for g in groups)
        p = stats.ttest_ind(groups[0], groups[1], equal_var=equal_var).pvalue if enough else np.nan
        test = "Student t-test" if equal_var else "Welch t-test"
    else:
        stat, describe = "median (IQR)", _median_iqr
        enough = all(len(g) >= 1 for g in groups)
        p = stats.mannwhitneyu(groups[0], groups[1], alternative="two-sided").pvalue if enough else np.nan
        test = "Mann-Whitney U"
    row = {"variable": v, "level": "", "statistic": stat, "overall": describe(x_all, digits)}
    for lab, g, sp in zip(labels, groups, shapiro):
        row[lab] = describe(g, digits)
        row[f"shapiro_p_{lab}"] = sp
    row.update(p=float(p), test=test)
    return [row]


def _categorical_rows(v: str, x: pd.Series, y: np.ndarray, labels, fisher_below: float,
                      yates: bool) -> list[dict]:
    text = x.map(lambda val: np.nan if pd.isna(val) else str(val))
    observed = text.notna().to_numpy()
    levels = sorted(set(text[observed]))
    if not levels:
        return [{"variable": v, "level": "", "statistic": "n (%)", "overall": "", **{lab: "" for lab in labels},
                 "p": np.nan, "test": "not testable (no values)"}]
    table = np.array([[np.sum((text[observed] == lv).to_numpy() & (y[observed] == g)) for g in (0, 1)]
                      for lv in levels])
    if len(levels) < 2 or (table.sum(axis=0) == 0).any():
        p, test = np.nan, "not testable (one level or one group)"
    else:
        expected = stats.contingency.expected_freq(table)
        if (expected < fisher_below).any():
            try:
                p, test = fisher_exact_rx2(table), "Fisher exact"
            except ValueError:
                method = stats.MonteCarloMethod(n_resamples=100_000, rng=np.random.default_rng(0))
                p, test = stats.fisher_exact(table, method=method).pvalue, "Fisher exact (Monte Carlo, seed 0)"
        else:
            res = stats.chi2_contingency(table, correction=yates)
            p, test = res.pvalue, "chi-square" + (" (Yates)" if yates and table.shape == (2, 2) else "")
    rows = []
    totals = table.sum(axis=0)
    for i, lv in enumerate(levels):
        row = {"variable": v, "level": lv, "statistic": "n (%)"}
        n_all = table[i].sum()
        row["overall"] = f"{n_all} ({100 * n_all / max(totals.sum(), 1):.1f}%)"
        for j, lab in enumerate(labels):
            row[lab] = f"{table[i, j]} ({100 * table[i, j] / totals[j]:.1f}%)" if totals[j] else "0"
        row.update(p=float(p), test=test)
        rows.append(row)
    return rows


def univariate_table(df: pd.DataFrame, outcome: str = "ptlf", variables: list[str] | None = None, *,
                     categorical: list[str] | None = None, alpha_normal: float = 0.05,
                     fisher_below: float = 5.0, equal_var: bool = True, yates: bool = True,
                     digits: int | dict = 2, labels: tuple[str, str] | None = None) -> UnivariateResult:
    """Table 2: each variable by outcome group.

    df: one row per patient (index patient_id) with the 0/1 ``outcome`` and the variables
    (default: every other column). digits: decimals for continuous summaries (int, or dict
    by variable). labels: names of the outcome-0 and outcome-1 columns (default
    "<outcome>=0", "<outcome>=1"). Patients without an outcome are left out (``excluded``).
    """
    if outcome not in df.columns:
        raise ValueError(f"outcome column {outcome!r} not found")
    variables = [c for c in df.columns if c != outcome] if variables is None else list(variables)
    absent = [v for v in variables if v not in df.columns]
    if absent:
        raise ValueError(f"columns not found: {absent}")
    has_y = df[outcome].notna()
    data = df.loc[has_y]
    y = binary_outcome(data[outcome].to_numpy(), outcome)
    labels = labels or (f"{outcome}=0", f"{outcome}=1")
    forced = set(categorical or [])
    rows = []
    for v in variables:
        x = data[v]
        if v in forced or is_categorical(x) or is_binary_numeric(x):
            new = _categorical_rows(v, x, y, labels, fisher_below, yates)
        else:
            nd = digits.get(v, 2) if isinstance(digits, dict) else digits
            xs = pd.to_numeric(x, errors="coerce")
            groups = [xs[(y == g) & xs.notna().to_numpy()] for g in (0, 1)]
            new = _continuous_rows(v, groups, xs.dropna(), labels, alpha_normal, equal_var, nd)
        miss = [int(x[y == g].isna().sum()) for g in (0, 1)]
        for row in new:
            row["missing"] = sum(miss)
            for lab, m in zip(labels, miss):
                row[f"missing_{lab}"] = m
            row["p_text"] = format_p(row["p"])
        rows += new
    first = ["variable", "level", "statistic", "overall", *labels, "missing",
             *(f"missing_{lab}" for lab in labels), "p", "p_text", "test"]
    summary = pd.DataFrame(rows)
    summary = summary[first + [c for c in summary.columns if c not in first]]
    return UnivariateResult(summary=summary, outcome=outcome, labels=tuple(labels),
                            n={labels[0]: int((y == 0).sum()), labels[1]: int((y == 1).sum())},
                            excluded=tuple(df.index[~has_y]))


@dataclass(frozen=True)
class MultivariateResult:
    """Table 3. ``summary``: one row per model term (intercept first) with variable (the
    clinical variable), term, beta, se, or, or_low, or_high, p. ``variable_p``: P per variable
    (joint Wald test for multi-level categories). ``independent_predictors``: variables with
    P < alpha. ``excluded``: patients left out for missing values (complete-case analysis)."""
    fit: LogitFit
    design: Design
    summary: pd.DataFrame
    variable_p: pd.Series
    independent_predictors: list[str]
    alpha: float
    n_complete: int
    excluded: tuple
    warnings: tuple = field(default_factory=tuple)

    def to_dict(self) -> dict:
        return jsonable({
            "rows": self.summary, "variable_p": self.variable_p,
            "independent_predictors": self.independent_predictors, "alpha": self.alpha,
            "method": self.fit.method, "ci_method": self.fit.ci_method,
            "n_complete": self.n_complete, "n_excluded": len(self.excluded),
            "excluded": list(self.excluded), "warnings": list(self.warnings),
        })


def multivariate_logistic(df: pd.DataFrame, outcome: str, variables: list[str], *,
                          categorical: list[str] | None = None, alpha: float = 0.05,
                          method: str = "auto", level: float = 0.95, profile: bool = True) -> MultivariateResult:
    """Multivariate logistic regression of ``outcome`` on ``variables`` (complete cases).

    Categorical variables are dummy-coded (``core.stats.design``). Problems (separation,
    collinearity, < 10 events per variable) are listed in ``warnings``; separation switches
    to Firth's penalised likelihood (see ``fit_logistic``). profile: odds-ratio CIs by profile
    likelihood (default; ML fits as R's confint(glm(...)), Firth fits as logistf), else Wald
    (R's confint.default); ``fit.ci_method`` and ``to_dict()["ci_method"]`` say which.
    """
    if not variables:
        raise ValueError("multivariate model needs at least one variable")
    cols = [outcome, *variables]
    absent = [c for c in cols if c not in df.columns]
    if absent:
        raise ValueError(f"columns not found: {absent}")
    complete = df[cols].notna().all(axis=1)
    data = df.loc[complete]
    excluded = tuple(df.index[~complete])
    notes = [f"{len(excluded)} patient(s) with missing values excluded (complete-case analysis)"] if excluded else []
    design = Design.from_frame(data, variables, categorical)
    fit = fit_logistic(design.transform(data), data[outcome].to_numpy(), method=method, level=level,
                       profile=profile)
    summary = fit.summary.rename(columns={"variable": "term"})
    owner = {t: v for v in variables for t in design.terms_of(v)}
    summary.insert(0, "variable", [owner.get(t, INTERCEPT) for t in summary["term"]])
    variable_p = {}
    for v in variables:
        terms = [t for t in design.terms_of(v) if t in fit.names]
        if not terms:
            variable_p[v] = np.nan
        elif len(terms) == 1:
            variable_p[v] = float(fit.p[fit.names.index(terms[0])])
        else:
            variable_p[v] = fit.wald_test(terms)[2]
    variable_p = pd.Series(variable_p, dtype=float)
    return MultivariateResult(
        fit=fit, design=design, summary=summary, variable_p=variable_p,
        independent_predictors=variable_p.index[variable_p < alpha].tolist(), alpha=alpha,
        n_complete=int(complete.sum()), excluded=excluded, warnings=tuple(notes) + fit.warnings)
