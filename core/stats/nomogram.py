"""Nomogram scales of a logistic model, as R's rms::nomogram.

Each predictor contributes beta * x (continuous, over its training range) or beta_level
(categorical, reference level 0). The predictor whose contribution has the largest range R
gets 0-100 points; every other is scaled by the same factor, points = 100 * (contribution -
its minimum) / R. Total points T map back to the linear predictor
lp = intercept + sum of minimum contributions + T * R / 100, and to risk = 1 / (1 + e^-lp).
"""
from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
from scipy.special import expit, logit

from core.stats._json import jsonable

PROBABILITY_TICKS = (0.01, 0.02, 0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.98, 0.99)


def nice_ticks(low: float, high: float, count: int = 6) -> list[float]:
    """Round tick values (1, 2, 2.5, 5 x 10^k steps) covering [low, high], ends included."""
    if not np.isfinite([low, high]).all() or high <= low:
        return [float(low)]
    raw = (high - low) / max(count - 1, 1)
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw)
    ticks = np.arange(math.ceil(low / step) * step, high + step * 1e-9, step)
    inner = [round(float(t), 10) for t in ticks if low < t < high]
    return [float(low), *inner, float(high)]


@dataclass(frozen=True)
class Axis:
    """One predictor's scale: values (tick values or levels) and their points."""
    name: str
    kind: str                      # "continuous" | "categorical"
    values: tuple
    points: tuple
    beta: float | None = None      # continuous: per unit
    low: float | None = None
    high: float | None = None
    level_betas: dict | None = None


class Nomogram:
    """Points scales of a logistic model (see module docstring).

    intercept: model intercept; continuous: {name: (beta, low, high)} with low/high the
    training range; categorical: {name: {level: beta}} with the reference level at 0.
    """

    def __init__(self, intercept: float, continuous: Mapping[str, tuple[float, float, float]] | None = None,
                 categorical: Mapping[str, Mapping[str, float]] | None = None):
        continuous = {k: tuple(map(float, v)) for k, v in (continuous or {}).items()}
        categorical = {k: {str(lv): float(b) for lv, b in v.items()} for k, v in (categorical or {}).items()}
        if not continuous and not categorical:
            raise ValueError("a nomogram needs at least one predictor")
        self.intercept = float(intercept)
        self.continuous, self.categorical = continuous, categorical
        self._min = {k: min(b * lo, b * hi) for k, (b, lo, hi) in continuous.items()}
        self._min.update({k: min(v.values()) for k, v in categorical.items()})
        ranges = {k: abs(b) * (hi - lo) for k, (b, lo, hi) in continuous.items()}
        ranges.update({k: max(v.values()) - min(v.values()) for k, v in categorical.items()})
        self.max_range = max(ranges.values())
        if self.max_range <= 0:
            raise ValueError("all predictors have zero effect over their range")
        self.points_per_unit_lp = 100.0 / self.max_range
        self.total_points_max = sum(ranges.values()) * self.points_per_unit_lp
        self.lp_at_zero_points = self.intercept + sum(self._min.values())

    def contribution_points(self, name: str, value) -> float:
        """Points of one predictor at ``value`` (a level for categorical predictors).
        Continuous values outside the training range extrapolate linearly."""
        if name in self.continuous:
            beta = self.continuous[name][0]
            return (beta * float(value) - self._min[name]) * self.points_per_unit_lp
        if name in self.categorical:
            levels = self.categorical[name]
            if str(value) not in levels:
                raise ValueError(f"unknown level {value!r} for {name!r}; levels: {list(levels)}")
            return (levels[str(value)] - self._min[name]) * self.points_per_unit_lp
        raise ValueError(f"{name!r} is not a nomogram predictor; predictors: {self.predictors}")

    @property
    def predictors(self) -> list[str]:
        return [*self.continuous, *self.categorical]

    def linear_predictor(self, total_points: float) -> float:
        return self.lp_at_zero_points + total_points / self.points_per_unit_lp

    def probability(self, total_points: float) -> float:
        """Risk for a number of total points."""
        return float(expit(self.linear_predictor(total_points)))

    def points(self, values: Mapping[str, object]) -> dict:
        """Points of one patient: {predictor: points, ..., total_points, linear_predictor,
        probability}. ``values`` must give every predictor."""
        absent = [p for p in self.predictors if p not in values or values[p] is None
                  or (isinstance(values[p], float) and math.isnan(values[p]))]
        if absent:
            raise ValueError(f"values missing for {absent}")
        out = {p: self.contribution_points(p, values[p]) for p in self.predictors}
        total = sum(out.values())
        out.update(total_points=total, linear_predictor=self.linear_predictor(total),
                   probability=self.probability(total))
        return out

    @property
    def axes(self) -> list[Axis]:
        axes = []
        for name, (beta, low, high) in self.continuous.items():
            ticks = nice_ticks(low, high)
            axes.append(Axis(name, "continuous", tuple(ticks),
                             tuple(self.contribution_points(name, t) for t in ticks), beta=beta, low=low, high=high))
        for name, levels in self.categorical.items():
            axes.append(Axis(name, "categorical", tuple(levels),
                             tuple(self.contribution_points(name, lv) for lv in levels), level_betas=dict(levels)))
        return axes

    def probability_scale(self, ticks=PROBABILITY_TICKS) -> list[dict]:
        """Total points at which the risk equals each tick (within 0..total_points_max)."""
        out = []
        for p in ticks:
            total = (logit(p) - self.lp_at_zero_points) * self.points_per_unit_lp
            if 0 <= total <= self.total_points_max:
                out.append({"probability": p, "total_points": float(total)})
        return out

    def to_dict(self) -> dict:
        return jsonable({
            "intercept": self.intercept,
            "continuous": {k: list(v) for k, v in self.continuous.items()},
            "categorical": self.categorical,
            "points_per_unit_lp": self.points_per_unit_lp,
            "total_points_max": self.total_points_max,
            "lp_at_zero_points": self.lp_at_zero_points,
            "axes": [{"name": a.name, "kind": a.kind, "values": list(a.values), "points": list(a.points)}
                     for a in self.axes],
            "total_points_scale": nice_ticks(0.0, self.total_points_max, 8),
            "probability_scale": self.probability_scale(),
        })

    @classmethod
    def from_dict(cls, d: dict) -> "Nomogram":
        return cls(d["intercept"], {k: tuple(v) for k, v in d["continuous"].items()}, d["categorical"])
