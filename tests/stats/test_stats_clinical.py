"""Table 2 (univariate) and Table 3 (multivariate) against scipy and statsmodels."""
import itertools

import numpy as np
import pandas as pd
import pytest
import statsmodels.formula.api as smf
from scipy import stats

from core.stats import multivariate_logistic, univariate_table
from core.stats.clinical import fisher_exact_rx2


@pytest.fixture(scope="module")
def cohort():
    rng = np.random.default_rng(7)
    n = 160
    ptlf = (rng.random(n) < 0.3).astype(int)
    df = pd.DataFrame({
        "ptlf": ptlf,
        "inr": np.round(rng.normal(1.1, 0.1, n) + 0.08 * ptlf, 3),            # normal in both groups
        "bilirubin": np.round(np.exp(rng.normal(2.7, 0.6, n)), 1),          # skewed
        "sex": rng.choice(["female", "male"], n),
        "child": rng.choice(["A", "B", "C"], n, p=[0.8, 0.17, 0.03]),       # small expected counts
        "ascites": rng.integers(0, 2, n),
        "alb": np.round(rng.normal(38, 4, n) - 2.5 * ptlf, 1),
    }, index=pd.Index([f"P{i:03d}" for i in range(n)], name="patient_id"))
    df.loc[["P001", "P002"], "inr"] = np.nan
    df.loc["P003", "sex"] = None
    return df


def test_continuous_rows_follow_shapiro_wilk(cohort):
    table = univariate_table(cohort).summary.set_index("variable")
    groups = [cohort.loc[cohort.ptlf == g, "inr"].dropna() for g in (0, 1)]
    assert all(stats.shapiro(g).pvalue > 0.05 for g in groups)
    row = table.loc["inr"]
    assert row["statistic"] == "mean ± SD" and row["test"] == "Student t-test"
    assert row["p"] == pytest.approx(stats.ttest_ind(*groups).pvalue, rel=1e-12)
    assert row["ptlf=1"] == f"{groups[1].mean():.2f} ± {groups[1].std(ddof=1):.2f}"
    assert (row["missing"], row["missing_ptlf=0"] + row["missing_ptlf=1"]) == (2, 2)

    skewed = [cohort.loc[cohort.ptlf == g, "bilirubin"] for g in (0, 1)]
    row = table.loc["bilirubin"]
    assert row["statistic"] == "median (IQR)" and row["test"] == "Mann-Whitney U"
    assert row["p"] == pytest.approx(stats.mannwhitneyu(*skewed, alternative="two-sided").pvalue, rel=1e-12)
    q1, q2, q3 = np.percentile(skewed[0], [25, 50, 75])
    assert row["ptlf=0"] == f"{q2:.2f} ({q1:.2f}–{q3:.2f})"


def test_categorical_rows_use_chi_square_or_fisher(cohort):
    table = univariate_table(cohort).summary
    sex = table[table.variable == "sex"]
    counts = pd.crosstab(cohort["sex"], cohort["ptlf"]).to_numpy()
    assert sex["test"].iloc[0] == "chi-square (Yates)"
    assert sex["p"].iloc[0] == pytest.approx(stats.chi2_contingency(counts, correction=True).pvalue, rel=1e-12)
    assert sex["missing"].iloc[0] == 1 and list(sex["level"]) == ["female", "male"]
    n_female_1 = counts[0, 1]
    assert sex["ptlf=1"].iloc[0] == f"{n_female_1} ({100 * n_female_1 / counts[:, 1].sum():.1f}%)"

    child = table[table.variable == "child"]
    assert child["test"].iloc[0] == "Fisher exact"
    child_counts = pd.crosstab(cohort["child"], cohort["ptlf"]).to_numpy()
    assert child["p"].iloc[0] == pytest.approx(_fisher_by_enumeration(child_counts), rel=1e-9)
    assert list(table[table.variable == "ascites"]["level"]) == ["0", "1"]        # 0/1 is categorical


def _fisher_by_enumeration(table):
    """Fisher-Freeman-Halton P from every table with the same margins (scipy's pmf)."""
    rows, events = table.sum(axis=1), table[:, 1].sum()
    observed = stats.multivariate_hypergeom.pmf(table[:, 1], rows, events)
    total = 0.0
    for xs in itertools.product(*[range(r + 1) for r in rows]):
        if sum(xs) == events:
            p = stats.multivariate_hypergeom.pmf(xs, rows, events)
            total += p if p <= observed * (1 + 1e-7) else 0.0
    return total


@pytest.mark.parametrize("table", [[[3, 1], [10, 2], [5, 9], [1, 4]], [[12, 1], [30, 2], [2, 3]], [[4, 2], [1, 3]]])
def test_exact_test_of_r_by_2_tables(table):
    assert fisher_exact_rx2(table) == pytest.approx(_fisher_by_enumeration(np.array(table)), rel=1e-9)


def test_significant_variables_and_labels(cohort):
    res = univariate_table(cohort, labels=("No PTLF", "PTLF"))
    assert {"No PTLF", "PTLF", "p", "test", "variable"} <= set(res.summary.columns)
    assert set(res.significant(0.05)) >= {"inr", "alb"}
    assert res.n == {"No PTLF": int((cohort.ptlf == 0).sum()), "PTLF": int(cohort.ptlf.sum())}


def test_multivariate_matches_statsmodels_on_complete_cases(cohort):
    res = multivariate_logistic(cohort, "ptlf", ["inr", "alb", "sex"])
    complete = cohort.dropna(subset=["inr", "alb", "sex"])
    ref = smf.logit("ptlf ~ inr + alb + C(sex)", data=complete).fit(disp=0)
    assert res.n_complete == len(complete) and len(res.excluded) == 3
    assert res.summary["beta"].to_numpy() == pytest.approx(ref.params.to_numpy()[[0, 2, 3, 1]], rel=1e-6)
    assert res.summary["p"].to_numpy() == pytest.approx(ref.pvalues.to_numpy()[[0, 2, 3, 1]], rel=1e-4)
    assert list(res.summary["term"]) == ["Intercept", "inr", "alb", "sex[male]"]
    assert res.independent_predictors == [v for v in ("inr", "alb", "sex") if res.variable_p[v] < 0.05]
    assert any("complete-case" in w for w in res.warnings)


def test_multilevel_category_gets_a_joint_wald_p(cohort):
    data = cohort.assign(child=cohort["child"].replace({"C": "B"}))
    data["stage"] = np.random.default_rng(3).choice(["I", "II", "III"], len(data))
    res = multivariate_logistic(data, "ptlf", ["alb", "stage"])
    ref = smf.logit("ptlf ~ alb + C(stage)", data=data).fit(disp=0)
    wald = ref.wald_test("C(stage)[T.II] = 0, C(stage)[T.III] = 0", scalar=True)
    assert res.variable_p["stage"] == pytest.approx(wald.pvalue, rel=1e-4)


def test_separated_category_gives_firth_and_a_warning(cohort):
    data = cohort.copy()
    data["tace_sessions"] = np.where(data["ptlf"] == 1, "many", "few")
    data.loc[data.index[:3], "tace_sessions"] = "few"
    res = multivariate_logistic(data, "ptlf", ["alb", "tace_sessions"])
    assert res.fit.method == "firth" and any("separation" in w for w in res.warnings)
    assert np.isfinite(res.summary["beta"]).all()
