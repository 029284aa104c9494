"""First-order statistics: PyRadiomics' ``RadiomicsFirstOrder`` (its 18 non-deprecated features).

The definitions are PyRadiomics' own (``radiomics/firstorder.py``), not IBSI's where they differ:

- Energy, TotalEnergy and RootMeanSquared add ``voxelArrayShift`` to every value first;
  TotalEnergy is Energy times the voxel volume (mm^3);
- Kurtosis is not the excess kurtosis (a Gaussian gives 3); Variance divides by N;
- the 10th/90th percentiles, the quartiles of InterquartileRange and the median are numpy's
  (``linear`` interpolation between order statistics, as ``numpy.nanpercentile``);
- RobustMeanAbsoluteDeviation is the mean absolute deviation of the values in the closed
  interval [10th, 90th percentile];
- Entropy (base 2, with numpy's ``eps`` added inside the log) and Uniformity use the
  frequencies of the grey levels of :attr:`Region.binned`.

PyRadiomics takes the region's values as float64 (``astype('float')``) whatever the dtype of
its array, so no feature of this class accumulates in float32; :attr:`Region.dtype` enters
only through the bin edges of Entropy and Uniformity.

A flat region (every value equal) has Variance, MeanAbsoluteDeviation and the like 0 (up to
rounding) and Skewness and Kurtosis 0 when numpy's mean of the values is exactly the common
value; when it is not (a float value whose N-fold sum rounds), every deviation is the same
tiny number and PyRadiomics gives Skewness +-1 and Kurtosis 1. The mean of a flat region is
therefore numpy's pairwise sum of N copies of the value, reproduced on scalars.
"""
from __future__ import annotations

from functools import cache, lru_cache
from typing import Sequence

import numpy as np
import torch

from core.radiomics.engine.names import requested
from core.radiomics.engine.region import Region

FEATURES: tuple[str, ...] = (
    "10Percentile", "90Percentile", "Energy", "Entropy", "InterquartileRange", "Kurtosis", "Maximum",
    "MeanAbsoluteDeviation", "Mean", "Median", "Minimum", "Range", "RobustMeanAbsoluteDeviation",
    "RootMeanSquared", "Skewness", "TotalEnergy", "Uniformity", "Variance",
)


def features(region: Region, names: Sequence[str] | None = None) -> dict[str, torch.Tensor]:
    """PyRadiomics' first-order features of ``region``: {name: 0-dim float64 tensor on its device}."""
    names = requested(names, FEATURES, "first-order")
    x = region.values
    n = x.numel()
    if n == 0:
        raise ValueError("the region is empty")
    ordered = _order_statistics(x)
    minimum, maximum = ordered[0], ordered[n - 1]
    flat = bool(minimum == maximum)
    mean = torch.tensor(_numpy_mean_of_copies(n, float(minimum)), dtype=torch.float64, device=x.device) \
        if flat else x.mean()
    deviation = x - mean
    m2 = deviation.square().mean()
    shifted = x + region.settings.get("voxelArrayShift", 0)
    energy = shifted.square().sum()
    p10, p90 = _percentile(ordered, n, 10), _percentile(ordered, n, 90)
    kept = x[(x >= p10) & (x <= p90)]
    moment_scale = torch.where(m2 == 0, torch.ones_like(m2), m2)    # PyRadiomics: m2 == 0 -> 1
    frequencies = cache(lambda: _frequencies(region))
    values = {
        "10Percentile": lambda: p10,
        "90Percentile": lambda: p90,
        "Energy": lambda: energy,
        "TotalEnergy": lambda: energy * _voxel_volume(region.spacing),
        "RootMeanSquared": lambda: torch.sqrt(energy / n),
        "Minimum": lambda: minimum,
        "Maximum": lambda: maximum,
        "Range": lambda: maximum - minimum,
        "Mean": lambda: mean,
        "Median": lambda: _median(ordered, n),
        "InterquartileRange": lambda: _percentile(ordered, n, 75) - _percentile(ordered, n, 25),
        "MeanAbsoluteDeviation": lambda: deviation.abs().mean(),
        "RobustMeanAbsoluteDeviation": lambda: (kept - kept.mean()).abs().mean(),
        "Variance": lambda: m2,
        "Skewness": lambda: deviation.pow(3).mean() / moment_scale ** 1.5,
        "Kurtosis": lambda: deviation.pow(4).mean() / moment_scale ** 2,
        "Entropy": lambda: _entropy(frequencies()),
        "Uniformity": lambda: frequencies().square().sum(),
    }
    return {name: values[name]().to(torch.float64) for name in names}


PERCENTS = (10, 25, 75, 90)


def _order_statistics(x: torch.Tensor) -> dict[int, torch.Tensor]:
    """{rank: the rank-th smallest of the (N,) values x (0-dim)} for every rank the features read:
    the extremes, the median's and those of :data:`PERCENTS`. On the CPU numpy's partition
    finds them (selection, not a sort); on a GPU a sort does."""
    n = x.numel()
    ranks = {0, n - 1, (n - 1) // 2, n // 2}
    for percent in PERCENTS:
        below = int(np.floor((n - 1) * np.true_divide(percent, 100)))
        ranks |= {below, min(below + 1, n - 1)}
    ranks = sorted(ranks)
    if x.device.type == "cpu":
        chosen = torch.from_numpy(np.partition(x.numpy(), ranks)[ranks])
    else:
        chosen = torch.sort(x).values[ranks]
    return dict(zip(ranks, chosen.unbind()))


def _percentile(ordered: dict[int, torch.Tensor], n: int, percent: float) -> torch.Tensor:
    """numpy's ``percentile(values, percent)`` (method 'linear') from the order statistics of N values."""
    virtual = (n - 1) * np.true_divide(percent, 100)
    below = int(np.floor(virtual))
    if virtual >= n - 1:
        return ordered[n - 1]
    low, high = ordered[below], ordered[below + 1]
    gamma = virtual - below
    diff = high - low
    return high - diff * (1 - gamma) if gamma >= 0.5 else low + diff * gamma   # numpy's _lerp


def _median(ordered: dict[int, torch.Tensor], n: int) -> torch.Tensor:
    """numpy's median from the order statistics of N values: the middle value, or the mean of the two."""
    if n % 2:
        return ordered[n // 2]
    return (ordered[n // 2 - 1] + ordered[n // 2]) / 2


def _voxel_volume(spacing: tuple[float, float, float]) -> float:
    """mm^3 of one voxel, multiplied in PyRadiomics' order (x, y, z)."""
    return float(np.multiply.reduce(np.asarray(spacing, dtype=np.float64)))


def _frequencies(region: Region) -> torch.Tensor:
    """(G,) float64 frequencies of the grey levels present in the region (sum 1)."""
    counts = torch.bincount(region.binned.indices.long()).to(torch.float64)   # every level present: no zero
    return counts / counts.sum()


def _entropy(p: torch.Tensor) -> torch.Tensor:
    return -(p * torch.log2(p + np.spacing(1))).sum()


@lru_cache(maxsize=256)
def _numpy_mean_of_copies(n: int, value: float) -> float:
    """numpy's ``mean`` of ``n`` copies of ``value``: its pairwise summation (8 accumulators in
    blocks of up to 128, halves split at a multiple of 8), then the division by ``n``."""
    return _pairwise_sum_of_copies(n, value) / n


@lru_cache(maxsize=1024)
def _pairwise_sum_of_copies(n: int, value: float) -> float:
    if n < 8:
        total = 0.0 if n == 0 else value
        for _ in range(n - 1):
            total += value
        return total
    if n <= 128:
        partial = [value] * 8
        for _ in range(1, n // 8):
            partial = [p + value for p in partial]
        total = ((partial[0] + partial[1]) + (partial[2] + partial[3])) + \
                ((partial[4] + partial[5]) + (partial[6] + partial[7]))
        for _ in range(n % 8):
            total += value
        return total
    half = n // 2
    half -= half % 8
    return _pairwise_sum_of_copies(half, value) + _pairwise_sum_of_copies(n - half, value)
