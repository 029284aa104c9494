"""Ranks of every feature for any multiset of the training patients, sorted once.

Resampling procedures (cross-validation folds, bootstrap replicates) need the univariate
Mann-Whitney test and Spearman correlations on many subsets of the same patients. Sorting
3,748 features again for each subset costs more than the rest of the selection; instead
:class:`ColumnRanks` sorts every column once and derives, for row weights ``w`` (how many
times each patient is in the subset: 0/1 for a fold, counts for a bootstrap replicate), the
average ranks that ``scipy.stats.rankdata`` gives on the expanded data (each patient
repeated ``w`` times), its tie groups, the Mann-Whitney U P values of ``scipy.stats.mannwhitneyu``
and Spearman's rho, all equal to scipy's on the expanded data.
"""
from __future__ import annotations

import numpy as np
from scipy import special, stats


class ColumnRanks:
    """Sorted order and tie groups of each column of X (n patients, p features)."""

    def __init__(self, X: np.ndarray):
        X = np.asarray(X, dtype=float)
        if X.ndim != 2:
            raise ValueError(f"X must be (patients, features), got shape {X.shape}")
        self.X = X
        n, p = X.shape
        self.order = np.argsort(X, axis=0, kind="stable")                  # (n, p) row of each sorted position
        ordered = np.take_along_axis(X, self.order, axis=0)
        starts = np.ones((n, p), dtype=bool)
        starts[1:] = ordered[1:] != ordered[:-1]
        # tie-group id of each sorted position, unique over columns: groups of column j are j*n ...
        self.group = np.cumsum(starts, axis=0) - 1 + np.arange(p) * n
        # columns without tied values (most radiomics features): ranks are cumulative weights in sorted order
        self.tie_free = starts.all(axis=0)
        self._order_free = np.ascontiguousarray(self.order[:, self.tie_free].T)       # (k, n)
        tied = np.flatnonzero(~self.tie_free)
        self._order_tied = self.order[:, tied]
        self._group_tied = self.group[:, tied] - tied * n + np.arange(len(tied)) * n
        self._events = (None, None)                                                  # (y bytes, sorted events)

    @property
    def shape(self) -> tuple[int, int]:
        return self.X.shape

    def ranks(self, w: np.ndarray | None = None, columns: np.ndarray | None = None) -> np.ndarray:
        """Average ranks (n, p) of each patient among the weighted rows (scipy's 'average' method
        on the expanded data); rows of weight 0 get the rank they would have if added once.
        ``columns``: only these features (then (n, len(columns)))."""
        n, p = self.shape
        w = np.ones(n) if w is None else np.asarray(w, dtype=float)
        order, group = self.order, self.group
        if columns is not None:
            columns = np.asarray(columns)
            order, group = order[:, columns], group[:, columns] - (np.arange(p) * n)[columns] + \
                np.arange(len(columns)) * n
        k = order.shape[1]
        totals = np.bincount(group.ravel(), weights=w[order].ravel(), minlength=n * k).reshape(k, n)
        before = np.cumsum(totals, axis=1) - totals                          # weight in earlier groups
        average = (before + (totals + 1) / 2).ravel()[group]                 # (n, k) in sorted order
        out = np.empty((n, k))
        np.put_along_axis(out, order, average, axis=0)
        return out

    def mann_whitney_p(self, y: np.ndarray, w: np.ndarray | None = None) -> np.ndarray:
        """Two-sided Mann-Whitney U P value of every feature, events (y = 1) against non-events,
        as ``scipy.stats.mannwhitneyu(x1, x0, axis=0)`` (method 'auto', continuity correction)
        on the expanded rows. (p,)"""
        n, p = self.shape
        y = np.asarray(y)
        w = np.ones(n) if w is None else np.asarray(w, dtype=float)
        w1, w0 = w * (y == 1), w * (y == 0)
        n1, n2 = w1.sum(), w0.sum()
        free_w = w[self._order_free]                                       # (k, n) weights in sorted order
        tied_w = w[self._order_tied]
        tied_totals = self._tied_totals(tied_w)
        ties = bool((free_w > 1).any() or (tied_totals > 1).any())
        if not (n1 > 8 and n2 > 8) and not ties:                            # scipy's exact distribution
            expanded = np.repeat(self.X, w.astype(int), axis=0)
            labels = np.repeat(y, w.astype(int))
            return stats.mannwhitneyu(expanded[labels == 1], expanded[labels == 0], axis=0).pvalue
        free_events, tied_events = self._sorted_events(y)
        r1, tie_term = np.empty(p), np.empty(p)
        average = np.cumsum(free_w, axis=1) - (free_w - 1) / 2              # a patient repeated w times
        r1[self.tie_free] = (free_w * free_events * average).sum(axis=1)
        tie_term[self.tie_free] = (free_w ** 3 - free_w).sum(axis=1)
        average = np.cumsum(tied_totals, axis=1) - (tied_totals - 1) / 2   # average rank of each group
        r1[~self.tie_free] = (self._tied_totals(tied_w * tied_events) * average).sum(axis=1)
        tie_term[~self.tie_free] = (tied_totals ** 3 - tied_totals).sum(axis=1)
        u1 = r1 - n1 * (n1 + 1) / 2
        u = np.maximum(u1, n1 * n2 - u1)
        total = n1 + n2
        s = np.sqrt(n1 * n2 / 12 * ((total + 1) - tie_term / (total * (total - 1))))
        with np.errstate(divide="ignore", invalid="ignore"):
            z = (u - n1 * n2 / 2 - 0.5) / s
        return np.clip(2 * special.ndtr(-z), 0.0, 1.0)

    def _tied_totals(self, sorted_weights: np.ndarray) -> np.ndarray:
        """Total weight of every tie group of the columns with ties, from their weights in sorted
        order (n, t): (t, n), row j holding that column's groups (then zeros)."""
        n, t = sorted_weights.shape
        return np.bincount(self._group_tied.ravel(), weights=sorted_weights.ravel(), minlength=n * t).reshape(t, n)

    def _sorted_events(self, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(y == 1) in the sorted order of the tie-free (k, n) and tied (n, t) columns, kept for the last y."""
        key = y.tobytes()
        if self._events[0] != key:
            events = (y == 1).astype(float)
            self._events = (key, (events[self._order_free], events[self._order_tied]))
        return self._events[1]

    def scaled_ranks(self, columns: np.ndarray, w: np.ndarray | None = None) -> np.ndarray:
        """Ranks of the given features on the weighted rows, centred and scaled so that the dot
        product of two rows is their Spearman rho: (k, n); zero rows for constant features."""
        n = self.shape[0]
        w = np.ones(n) if w is None else np.asarray(w, dtype=float)
        r = self.ranks(w, columns)
        centred = (r - (w @ r) / w.sum()) * np.sqrt(w)[:, None]
        norm = np.sqrt((centred ** 2).sum(axis=0))
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.ascontiguousarray(np.where(norm > 0, centred / norm, 0.0).T)

    def spearman(self, columns: np.ndarray, w: np.ndarray | None = None) -> np.ndarray:
        """Spearman's rho between the given features (k x k) on the weighted rows (NaN for a
        constant feature, as scipy)."""
        s = self.scaled_ranks(columns, w)
        rho = s @ s.T
        constant = ~s.any(axis=1)
        rho[constant, :] = rho[:, constant] = np.nan
        return rho


def greedy_redundancy(scaled: np.ndarray, threshold: float) -> tuple[np.ndarray, np.ndarray]:
    """Greedy removal over features in priority order (rows of ``scaled``, as
    :meth:`ColumnRanks.scaled_ranks` gives them): each feature is kept unless its |rho| with an
    already kept one exceeds ``threshold``. Correlations are computed only for kept features.

    Returns (kept positions, remover (k,): position of the kept feature that removed each
    feature, -1 for kept ones).
    """
    k = len(scaled)
    remover = np.full(k, -1)
    removed = np.zeros(k, dtype=bool)
    kept = []
    for i in range(k):
        if removed[i]:
            continue
        kept.append(i)
        rest = np.flatnonzero(~removed[i + 1:]) + i + 1
        newly = rest[np.abs(scaled[rest] @ scaled[i]) > threshold]
        remover[newly] = i
        removed[newly] = True
    return np.asarray(kept, dtype=int), remover
