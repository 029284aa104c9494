"""Grey Level Co-occurrence Matrix features, as PyRadiomics' ``RadiomicsGLCM``.

For each angle a (:mod:`.neighbourhood`, at the ``distances`` setting) P_a(i, j) counts the
region's voxels of level i whose neighbour at +a is in the region with level j (C's
``calculate_glcm``); rows and columns are the G levels present in the region (PyRadiomics
deletes the absent ones), ``symmetricalGLCM`` adds the transpose, ``weightingNorm`` sums the
angles weighted by exp(-d^2) (d the angle's length in mm under that norm; 1 for
'no_weighting'). Without weighting, angles with no pair are dropped; a matrix summing to 0
gives NaN. Each matrix is normalised to sum 1, every feature is computed per angle and
averaged over angles ignoring NaN (``numpy.nanmean``; Joint Average uses the plain mean).
``i``, ``j`` are the levels' values; the sum and difference distributions and IDMN/IDN use
``Ng``, the largest level present. Special cases as PyRadiomics: Correlation 1 where
sigma_x sigma_y = 0, IMC1 0 where both marginal entropies are 0, IMC2 0 where HXY2 = HXY
(NaN where rounding makes HXY2 < HXY), MCC 1 with a single level.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import torch

from core.radiomics.engine.neighbourhood import angle_weights, flat_steps, region_angles
from core.radiomics.engine.names import requested
from core.radiomics.engine.region import Region

FEATURES: tuple[str, ...] = (
    "Autocorrelation", "ClusterProminence", "ClusterShade", "ClusterTendency", "Contrast",
    "Correlation", "DifferenceAverage", "DifferenceEntropy", "DifferenceVariance", "Id", "Idm",
    "Idmn", "Idn", "Imc1", "Imc2", "InverseVariance", "JointAverage", "JointEnergy",
    "JointEntropy", "MCC", "MaximumProbability", "SumAverage", "SumEntropy", "SumSquares",
)

EPS = float(np.spacing(1))    # PyRadiomics' epsilon, 2.2e-16


def features(region: Region, names: Sequence[str] | None = None) -> dict[str, torch.Tensor]:
    """{name: 0-dim float64 tensor on the region's device} for ``names`` (default: every feature)."""
    names = requested(names, FEATURES, "GLCM")
    terms = _Terms(region, _matrices(region))
    return {name: _FORMULAS[name](terms) for name in names}


def cooccurrence_counts(region: Region, angles: np.ndarray) -> torch.Tensor:
    """(A, G, G) float64: P_a(i, j), the region's voxels of level index i whose neighbour at +angle a
    is a region voxel of level index j (not symmetrised).

    ``angles``: (A, 3) offsets (z, y, x), first non-zero component positive.
    """
    neighbours = region.cached(("glcm neighbours", angles.tobytes()), lambda: neighbour_indices(region.mask, angles))
    count = region.binned.gray_levels.numel()
    width = count + 1                                      # index 0: the neighbour is outside
    dtype = torch.int32 if len(angles) * width * width < 2 ** 31 else torch.int64
    levels = region.binned.indices.to(dtype) + 1           # 1..G per region voxel, then 0 for "outside"
    levels = torch.cat([levels, levels.new_zeros(1)])
    centre = levels[:-1] * width
    codes = centre.new_empty(len(angles), centre.numel())
    for a in range(len(angles)):                           # (a, centre, neighbour) as one integer
        torch.add(centre, levels.index_select(0, neighbours[a]), out=codes[a])
        codes[a] += a * width * width
    counts = torch.bincount(codes.flatten(), minlength=len(angles) * width * width)
    return counts.reshape(len(angles), width, width)[:, 1:, 1:].to(torch.float64)


def neighbour_indices(mask: torch.Tensor, angles: np.ndarray) -> torch.Tensor:
    """(A, N) int32: for each angle and region voxel (C order), the index of its neighbour at +angle
    among the region's N voxels, or N where that neighbour is outside the region."""
    reach = int(np.abs(angles).max())
    padded = torch.nn.functional.pad(mask, (reach,) * 6)
    flat = padded.flatten()
    voxels = int(mask.sum())
    index = torch.full((flat.numel(),), voxels, dtype=torch.int32, device=mask.device)
    inside = torch.nonzero(flat).flatten()
    index[inside] = torch.arange(voxels, dtype=torch.int32, device=mask.device)
    return torch.stack([index[step:].index_select(0, inside) for step in flat_steps(angles, padded.shape)])


def _matrices(region: Region) -> torch.Tensor:
    """(A, G, G) normalised matrices as PyRadiomics' ``_calculateMatrix``: weighted, or empty angles dropped."""
    settings = region.settings
    angles = region_angles(region.mask.shape, settings, settings.get("distances", [1]))
    p = cooccurrence_counts(region, angles)
    if settings.get("symmetricalGLCM", True):
        p = p + p.transpose(1, 2)
    norm = settings.get("weightingNorm")
    if norm is not None:
        lengths, weighs = angle_weights(angles, region.spacing, norm)
        weights = np.exp(-lengths ** 2) if weighs else lengths
        p = (p * torch.as_tensor(weights, device=p.device)[:, None, None]).sum(0, keepdim=True)
    totals = p.sum((1, 2))
    if p.shape[0] > 1:
        kept = totals > 0
        p, totals = p[kept], totals[kept]
    totals = torch.where(totals == 0, torch.nan, totals)
    return p / totals[:, None, None]


class _Terms:
    """Per-angle quantities of PyRadiomics' ``_calculateCoefficients`` (shapes: A angles, G levels)."""

    def __init__(self, region: Region, p: torch.Tensor) -> None:
        binned = region.binned
        self.p = p                                                   # (A, G, G)
        self.ng = binned.ng
        levels = binned.gray_levels.to(p.dtype)
        self.i, self.j = levels[:, None], levels[None, :]            # (G, 1), (1, G)
        self.px, self.py = p.sum(2), p.sum(1)                        # (A, G): rows i, columns j
        self.ux = (p * self.i).sum((1, 2))                           # (A,)
        self.uy = (p * self.j).sum((1, 2))
        flat = p.flatten(1)
        k_sum = (self.i + self.j - 2).long().flatten().expand_as(flat)
        k_diff = (self.i - self.j).abs().long().flatten().expand_as(flat)
        self.p_sum = p.new_zeros(p.shape[0], 2 * self.ng - 1).scatter_add_(1, k_sum, flat)   # k = 2..2Ng
        self.p_diff = p.new_zeros(p.shape[0], self.ng).scatter_add_(1, k_diff, flat)         # k = 0..Ng-1
        self.k_sum = torch.arange(2, 2 * self.ng + 1, dtype=p.dtype, device=p.device)
        self.k_diff = torch.arange(0, self.ng, dtype=p.dtype, device=p.device)
        self.hxy = -(p * torch.log2(p + EPS)).sum((1, 2))

    def centred_sum(self, power: int) -> torch.Tensor:
        return (self.p * ((self.i + self.j) - self.ux[:, None, None] - self.uy[:, None, None]) ** power).sum((1, 2))

    def difference_average(self) -> torch.Tensor:
        return (self.k_diff * self.p_diff).sum(1)


def _entropy(p: torch.Tensor, dims: tuple[int, ...]) -> torch.Tensor:
    return -(p * torch.log2(p + EPS)).sum(dims)


def _correlation(t: _Terms) -> torch.Tensor:
    di = t.i - t.ux[:, None, None]
    dj = t.j - t.uy[:, None, None]
    sigma = (t.p * di ** 2).sum((1, 2)).sqrt() * (t.p * dj ** 2).sum((1, 2)).sqrt()
    corr = (t.p * di * dj).sum((1, 2)) / (sigma + EPS)
    return torch.nanmean(torch.where(sigma == 0, 1.0, corr))


def _imc1(t: _Terms) -> torch.Tensor:
    hx, hy = _entropy(t.px, (1,)), _entropy(t.py, (1,))
    hxy1 = -(t.p * torch.log2(t.px[:, :, None] * t.py[:, None, :] + EPS)).sum((1, 2))
    div = torch.fmax(hx, hy)
    imc1 = torch.where(div != 0, (t.hxy - hxy1) / torch.where(div != 0, div, 1.0), 0.0)
    return torch.nanmean(imc1)


def _imc2(t: _Terms) -> torch.Tensor:
    hxy2 = _entropy(t.px[:, :, None] * t.py[:, None, :], (1, 2))
    imc2 = (1 - torch.exp(-2 * (hxy2 - t.hxy))) ** 0.5
    return torch.nanmean(torch.where(hxy2 == t.hxy, 0.0, imc2))


def _mcc(t: _Terms) -> torch.Tensor:
    """sqrt of the second largest eigenvalue of Q, as numpy: its eigenvalues come back real when
    every one of every angle is real (a negative one then gives NaN), else complex (sorted by
    real, then imaginary part; the real part of the complex square root is kept)."""
    p = t.p
    if p.shape[1] < 2:
        return p.new_tensor(1.0)
    q = (p / (t.px[:, :, None] * t.py[:, None, :] + EPS)) @ p.transpose(1, 2)
    finite = torch.isfinite(q).all()                       # numpy.linalg raises on NaN: PyRadiomics gives NaN
    values = torch.linalg.eigvals(torch.where(finite, q, 0.0))
    order = torch.sort(values.imag, dim=-1, stable=True).indices
    values = values.gather(-1, order)
    order = torch.sort(values.real, dim=-1, stable=True).indices
    second = values.gather(-1, order)[..., -2]
    real_case = torch.nanmean(second.real.sqrt())
    complex_case = second.sqrt().real.mean()
    mcc = torch.where((values.imag == 0).all(), real_case, complex_case)
    return torch.where(finite, mcc, torch.nan)


def _nanmean(per_angle: Callable[[_Terms], torch.Tensor]) -> Callable[[_Terms], torch.Tensor]:
    return lambda t: torch.nanmean(per_angle(t))


_FORMULAS: dict[str, Callable[[_Terms], torch.Tensor]] = {
    "Autocorrelation": _nanmean(lambda t: (t.p * (t.i * t.j)).sum((1, 2))),
    "ClusterProminence": _nanmean(lambda t: t.centred_sum(4)),
    "ClusterShade": _nanmean(lambda t: t.centred_sum(3)),
    "ClusterTendency": _nanmean(lambda t: t.centred_sum(2)),
    "Contrast": _nanmean(lambda t: (t.p * (t.i - t.j).abs() ** 2).sum((1, 2))),
    "Correlation": _correlation,
    "DifferenceAverage": _nanmean(_Terms.difference_average),
    "DifferenceEntropy": _nanmean(lambda t: _entropy(t.p_diff, (1,))),
    "DifferenceVariance": _nanmean(
        lambda t: (t.p_diff * (t.k_diff - t.difference_average()[:, None]) ** 2).sum(1)),
    "Id": _nanmean(lambda t: (t.p_diff / (1 + t.k_diff)).sum(1)),
    "Idm": _nanmean(lambda t: (t.p_diff / (1 + t.k_diff ** 2)).sum(1)),
    "Idmn": _nanmean(lambda t: (t.p_diff / (1 + t.k_diff ** 2 / t.ng ** 2)).sum(1)),
    "Idn": _nanmean(lambda t: (t.p_diff / (1 + t.k_diff / t.ng)).sum(1)),
    "Imc1": _imc1,
    "Imc2": _imc2,
    "InverseVariance": _nanmean(lambda t: (t.p_diff[:, 1:] / t.k_diff[1:] ** 2).sum(1)),
    "JointAverage": lambda t: t.ux.mean(),
    "JointEnergy": _nanmean(lambda t: (t.p ** 2).sum((1, 2))),
    "JointEntropy": _nanmean(lambda t: t.hxy),
    "MCC": _mcc,
    "MaximumProbability": _nanmean(lambda t: t.p.amax((1, 2))),
    "SumAverage": _nanmean(lambda t: (t.k_sum * t.p_sum).sum(1)),
    "SumEntropy": _nanmean(lambda t: _entropy(t.p_sum, (1,))),
    "SumSquares": _nanmean(lambda t: (t.p * (t.i - t.ux[:, None, None]) ** 2).sum((1, 2))),
}
