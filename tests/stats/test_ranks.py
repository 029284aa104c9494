"""Ranks, Mann-Whitney P and Spearman's rho for weighted rows against scipy on the expanded rows."""
from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from core.stats.ranks import ColumnRanks, greedy_redundancy


def _data(seed: int, n: int = 40, p: int = 7) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, p))
    X[:, 1] = np.round(X[:, 1])                    # many ties
    X[:, 2] = rng.integers(0, 3, n)                # three levels
    X[:, 3] = 5.0                                  # constant
    y = (rng.random(n) < 0.35).astype(int)
    return X, y


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("kind", ["all", "fold", "bootstrap"])
def test_weighted_rows_equal_scipy_on_the_expanded_rows(seed, kind):
    X, y = _data(seed)
    rng = np.random.default_rng(100 + seed)
    w = {"all": np.ones(len(y)), "fold": (rng.random(len(y)) < 0.8).astype(float),
         "bootstrap": np.bincount(rng.integers(0, len(y), len(y)), minlength=len(y)).astype(float)}[kind]
    expanded, labels = np.repeat(X, w.astype(int), axis=0), np.repeat(y, w.astype(int))
    index = ColumnRanks(X)

    ranks = index.ranks(w)
    keep = w > 0
    for j in range(X.shape[1]):
        expected = stats.rankdata(expanded[:, j])
        np.testing.assert_allclose(np.repeat(ranks[keep, j], w[keep].astype(int)), expected, rtol=0, atol=1e-12)

    expected_p = stats.mannwhitneyu(expanded[labels == 1], expanded[labels == 0], axis=0).pvalue
    np.testing.assert_allclose(index.mann_whitney_p(y, w), expected_p, rtol=1e-12, atol=1e-15)

    columns = np.array([0, 4, 1, 6, 2])
    with np.errstate(invalid="ignore"):
        expected_rho = stats.spearmanr(expanded[:, columns]).statistic
    np.testing.assert_allclose(index.spearman(columns, w), expected_rho, rtol=1e-12, atol=1e-12)


def test_small_groups_without_ties_use_scipys_exact_test():
    rng = np.random.default_rng(3)
    X, y = rng.normal(size=(12, 4)), np.array([1] * 5 + [0] * 7)
    expected = stats.mannwhitneyu(X[y == 1], X[y == 0], axis=0).pvalue        # exact: n1 = 5 <= 8, no ties
    assert not np.allclose(expected, stats.mannwhitneyu(X[y == 1], X[y == 0], axis=0, method="asymptotic").pvalue)
    np.testing.assert_allclose(ColumnRanks(X).mann_whitney_p(y), expected, rtol=1e-12)


def test_greedy_redundancy_keeps_the_first_of_each_correlated_pair():
    rng = np.random.default_rng(5)
    base = rng.normal(size=(200, 2))
    noise = rng.normal(size=(200, 4)) * 0.3
    # columns 0 and 1 share a factor; 2 and 3 share the other; 1 also leans on 2's factor
    X = np.column_stack([base[:, 0], base[:, 0] + noise[:, 0], base[:, 1] + noise[:, 1], base[:, 1] + noise[:, 2]])
    rho = stats.spearmanr(X).statistic
    assert rho[0, 1] > 0.8 and rho[2, 3] > 0.8 and abs(rho[0, 2]) < 0.8
    kept, remover = greedy_redundancy(ColumnRanks(X).scaled_ranks(np.arange(4)), 0.8)
    assert kept.tolist() == [0, 2]
    assert remover.tolist() == [-1, 0, -1, 2]
