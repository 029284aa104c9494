"""RadiomicsSelector: the selection steps, frozen transforms and degenerate cases."""
import json

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from scipy import stats
from sklearn.exceptions import NotFittedError

from core.stats import RadiomicsSelector
from core.stats.selection import spearman_redundancy
from core.stats.simulate import simulate_cohort

FAST = {"cv_folds": 5, "n_lambda": 30}


@pytest.fixture(scope="module")
def data():
    clinical, features = simulate_cohort(150, n_features=300, seed=2)
    return features.iloc[:110], clinical["ptlf"].iloc[:110], features.iloc[110:]


@pytest.fixture(scope="module")
def fitted(data):
    X, y, _ = data
    return RadiomicsSelector(**FAST).fit(X, y)


def test_counts_follow_the_paper_steps(fitted, data):
    X, _, _ = data
    counts = fitted.counts_
    assert list(counts) == ["input", "complete", "non_constant", "spearman", "univariate", "lasso", "top_k"]
    values = list(counts.values())
    assert values == sorted(values, reverse=True) and counts["input"] == X.shape[1]
    assert counts["non_constant"] == counts["input"] - 2 and len(fitted.dropped_constant_) == 2
    assert counts["top_k"] == len(fitted.selected_) <= 10
    assert any("constant" in w for w in fitted.warnings_)


def test_z_scores_and_radscore_use_training_statistics(fitted, data):
    X, y, other = data
    sel = fitted.selected_
    assert fitted.means_[sel].to_numpy() == pytest.approx(X[sel].mean().to_numpy())
    assert fitted.sds_[sel].to_numpy() == pytest.approx(X[sel].std(ddof=1).to_numpy())
    z = (other[sel] - X[sel].mean()) / X[sel].std(ddof=1)
    expected = fitted.intercept_ + z.to_numpy() @ fitted.coef_[sel].to_numpy()
    assert fitted.radscore(other).to_numpy() == pytest.approx(expected)
    # the Radscore is the linear predictor of an unpenalised logistic fit on the training data
    ref = sm.Logit(y.to_numpy(), sm.add_constant(fitted.transform(X))).fit(disp=0)
    assert np.r_[fitted.intercept_, fitted.coef_.to_numpy()] == pytest.approx(ref.params.to_numpy(), rel=1e-5)


def test_radscore_formula_is_readable(fitted):
    formula = fitted.radscore_formula_
    assert formula.startswith(f"Radscore = {fitted.intercept_:.4f}")
    for feature, coef in fitted.coef_.items():
        assert f"{abs(coef):.4f} * {feature}(z)" in formula
    assert all(":" in f for f in fitted.selected_)


def test_selected_features_were_significant_and_lasso_nonzero(fitted):
    for f in fitted.selected_:
        assert fitted.univariate_p_[f] < 0.05 and fitted.lasso_coef_[f] != 0
    top = fitted.lasso_coef_.abs().sort_values(ascending=False).index[:10]
    assert set(fitted.selected_) == set(top)
    assert fitted.lambda_ == fitted.lambda_min_ <= fitted.lambda_1se_


def test_spearman_redundancy_keeps_the_more_significant_member():
    rng = np.random.default_rng(0)
    base = rng.normal(size=(80, 3))
    X = pd.DataFrame({"a": base[:, 0], "a2": base[:, 0] + 0.1 * rng.normal(size=80),
                      "b": base[:, 1], "c": base[:, 2], "c2": np.exp(base[:, 2])})
    p = pd.Series({"a": 0.2, "a2": 0.01, "b": 0.5, "c": 0.03, "c2": 0.04})
    kept, removed = spearman_redundancy(X, p, 0.8)
    assert kept == ["a2", "c", "b"] and removed == {"a": "a2", "c2": "c"}
    rho = stats.spearmanr(X[kept]).statistic
    assert np.all(np.abs(rho[np.triu_indices(len(kept), 1)]) <= 0.8)


def test_icc_filter_keeps_reproducible_features(data):
    X, y, _ = data
    rng = np.random.default_rng(1)
    noise = np.where(np.arange(X.shape[1]) % 2 == 0, 0.01, 5.0) * X.std().to_numpy()
    retest = X.iloc[:40] + rng.normal(size=(40, X.shape[1])) * noise
    sel = RadiomicsSelector(**FAST).fit(X, y, X_retest=retest)
    assert list(sel.counts_)[3] == "icc"
    kept = sel.icc_[sel.icc_ >= 0.75].index
    assert set(sel.selected_) <= set(kept)
    assert all(X.columns.get_loc(f) % 2 == 0 for f in kept)


def test_transform_is_frozen_and_checks_input(fitted, data):
    _, _, other = data
    shifted = other + 1000.0
    assert not np.allclose(fitted.transform(shifted), fitted.transform(other))
    with pytest.raises(ValueError, match="missing"):
        fitted.transform(other.drop(columns=fitted.selected_[0]))
    gap = other.copy()
    gap.iloc[0, gap.columns.get_loc(fitted.selected_[0])] = np.nan
    with pytest.raises(ValueError, match=str(gap.index[0])):
        fitted.radscore(gap)
    assert np.isnan(fitted.radscore(gap, missing="nan").iloc[0])
    with pytest.raises(NotFittedError):
        RadiomicsSelector().radscore(other)


def test_json_round_trip_scores_identically(fitted, data):
    _, _, other = data
    restored = RadiomicsSelector.from_dict(json.loads(json.dumps(fitted.to_dict(), allow_nan=False)))
    assert restored.radscore(other).to_numpy() == pytest.approx(fitted.radscore(other).to_numpy(), rel=1e-12)
    assert restored.radscore_formula_ == fitted.radscore_formula_ and restored.counts_ == fitted.counts_


def test_fixed_features_skip_selection(fitted, data):
    X, y, _ = data
    refit = RadiomicsSelector(fixed_features=fitted.selected_).fit(X, y)
    assert refit.selected_ == fitted.selected_ and list(refit.counts_) == ["input", "complete", "non_constant", "fixed"]
    assert refit.coef_.to_numpy() == pytest.approx(fitted.coef_.to_numpy(), rel=1e-8)


def test_degenerate_cases_name_the_step(data):
    X, y, _ = data
    with pytest.raises(ValueError, match="'univariate'"):
        RadiomicsSelector(univariate_p=1e-30, **FAST).fit(X, y)
    with pytest.raises(ValueError, match="'complete'"):
        RadiomicsSelector(**FAST).fit(X.iloc[:, :5].where(X.iloc[:, :5] > 1e99), y)
    with pytest.raises(ValueError, match="'non_constant'"):
        RadiomicsSelector(**FAST).fit(pd.DataFrame(1.0, index=X.index, columns=["liver:a", "liver:b"]), y)
    with_nan = X.copy()
    with_nan.iloc[3, 10] = np.nan
    sel = RadiomicsSelector(**FAST).fit(with_nan, y)
    assert sel.dropped_nan_ == [X.columns[10]] and sel.counts_["complete"] == X.shape[1] - 1
    with pytest.raises(ValueError, match="lambda_choice"):
        RadiomicsSelector(lambda_choice="best").fit(X, y)
