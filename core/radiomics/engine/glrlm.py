"""Grey Level Run Length Matrix features, as PyRadiomics' ``RadiomicsGLRLM``.

For each of PyRadiomics' angles at distance 1 (:mod:`.neighbourhood`) P_a(i, j) counts the runs
of length j of level i: maximal sets of consecutive region voxels of one level along a line
of direction a (C's ``calculate_glrlm``). Rows are the G levels present, columns the run
lengths 1..Nr with Nr the region's largest dimension (empty columns change no feature, so
they are kept). An angle along which no line holds two region voxels is zeroed (C's
``multiElement``); ``weightingNorm`` sums the angles weighted by their length in mm under
that norm (1 for 'no_weighting'); without weighting, angles with no run are dropped. Every
feature is computed per angle with Nr(a), the number of runs, and averaged ignoring NaN.

How the runs are found with tensor operations: the region's mask, padded by one voxel, is
flattened in C order, where an angle is one positive step s, and the voxels f, f + s, f + 2s,
... of a residue class modulo s follow lines of that direction one after the other, a
padding voxel between two lines. Viewing the flat volume as (rows, s) and transposing it
lays every residue class out contiguously; the region's voxels in that order, with a
separator wherever a voxel is not the next one along its line from the voxel before it,
form the angle's *chain* (:func:`chains`). That depends on the mask only, so it is computed
once per region and shared by all its images (:meth:`.Region.cached`). For one image, the
levels read along a chain (the separator a level of its own) make a sequence whose maximal
stretches of one value (``torch.unique_consecutive``) are the runs and the separators:
one histogram of (level, length) per angle gives its matrix.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import torch

from core.radiomics.engine.neighbourhood import angle_weights, flat_steps, region_angles
from core.radiomics.engine.names import requested
from core.radiomics.engine.region import Region

FEATURES: tuple[str, ...] = (
    "GrayLevelNonUniformity", "GrayLevelNonUniformityNormalized", "GrayLevelVariance",
    "HighGrayLevelRunEmphasis", "LongRunEmphasis", "LongRunHighGrayLevelEmphasis",
    "LongRunLowGrayLevelEmphasis", "LowGrayLevelRunEmphasis", "RunEntropy",
    "RunLengthNonUniformity", "RunLengthNonUniformityNormalized", "RunPercentage", "RunVariance",
    "ShortRunEmphasis", "ShortRunHighGrayLevelEmphasis", "ShortRunLowGrayLevelEmphasis",
)

EPS = float(np.spacing(1))    # PyRadiomics' epsilon, 2.2e-16


def features(region: Region, names: Sequence[str] | None = None) -> dict[str, torch.Tensor]:
    """{name: 0-dim float64 tensor on the region's device} for ``names`` (default: every feature)."""
    names = requested(names, FEATURES, "GLRLM")
    terms = _Terms(region, _matrices(region))
    return {name: torch.nanmean(_FORMULAS[name](terms)) for name in names}


def run_length_counts(region: Region, angles: np.ndarray) -> torch.Tensor:
    """(A, G, Nr) float64: P_a(i, j), the number of runs of level index i and length j + 1 along angle a.

    ``angles``: (A, 3) offsets (z, y, x) with components in {-1, 0, 1}, first non-zero one
    positive. An angle along which no line holds two region voxels gets an all-zero matrix.
    """
    orders, several = region.cached(("glrlm chains", angles.tobytes()), lambda: chains(region.mask, angles))
    indices = region.binned.indices
    levels = region.binned.gray_levels.numel()
    longest = max(region.mask.shape)                       # PyRadiomics' Nr
    table = torch.cat([indices, indices.new_full((1,), levels)])   # index N: the separator, "level" G
    p = torch.empty((len(angles), levels, longest), dtype=torch.float64, device=indices.device)
    for a, order in enumerate(orders):
        values, lengths = torch.unique_consecutive(table.index_select(0, order), return_counts=True)
        codes = lengths.add_(values, alpha=longest + 1)    # level * (Nr + 1) + length
        counts = torch.bincount(codes, minlength=(levels + 1) * (longest + 1))
        p[a] = counts.view(levels + 1, longest + 1)[:levels, 1:]
    return p * several[:, None, None]


def chains(mask: torch.Tensor, angles: np.ndarray) -> tuple[list[torch.Tensor], torch.Tensor]:
    """The region's voxels along every angle's lines (see the module docstring).

    Returns, per angle, (N + S,) int32: the index (in C order, 0..N-1) of each of the N region
    voxels in chain order, and N for a separator before each of the S voxels that do not
    follow the one before them on their line; and several: (A,) bool, whether some line of
    each angle holds two region voxels (C's ``multiElement``).
    """
    shape = [n + 2 for n in mask.shape]
    flat = torch.nn.functional.pad(mask, (1,) * 6).flatten()
    voxels = int(mask.sum())
    device = mask.device
    index = torch.full((flat.numel(),), -1, dtype=torch.int32, device=device)
    index[flat] = torch.arange(voxels, dtype=torch.int32, device=device)
    orders, several = [], []
    for angle, step in zip(angles, flat_steps(angles, shape)):
        size = -(-flat.numel() // step) * step             # whole rows of the step
        laid = torch.cat([index, index.new_full((size - flat.numel(),), -1)])
        if step > 1:
            laid = laid.view(-1, step).t().flatten()
        position = torch.nonzero(laid >= 0).flatten()
        order = laid.index_select(0, position)
        new = torch.ones(voxels, dtype=torch.bool, device=device)
        new[1:] = position[1:] - position[:-1] != 1
        several.append(not bool(new[1:].all()) or _share_a_line(mask, order, angle))
        placed = torch.arange(voxels, device=device) + torch.cumsum(new, 0)   # after the separators so far
        chain = torch.full((voxels + int(new.sum()),), voxels, dtype=torch.int32, device=device)
        chain[placed] = order
        orders.append(chain)
    return orders, torch.tensor(several, device=device)


def _share_a_line(mask: torch.Tensor, order: torch.Tensor, angle: np.ndarray) -> bool:
    """Whether two of the region's voxels, none next to another along ``angle``, share a line of it.

    A voxel's line is its coordinates less its position along the line times the angle
    (the position: its coordinate on the angle's first non-zero axis); voxels in chain
    ``order`` come line by line.
    """
    coordinates = torch.nonzero(mask).index_select(0, order.long())       # (N, 3) in chain order
    axis = int(np.flatnonzero(angle)[0])
    line = coordinates - coordinates[:, axis:axis + 1] * torch.as_tensor(angle, device=mask.device)
    return bool((line[1:] == line[:-1]).all(1).any())


def _matrices(region: Region) -> torch.Tensor:
    """(A, G, Nr) run length matrices as PyRadiomics' ``_calculateMatrix``: weighted or empty angles dropped."""
    angles = region_angles(region.mask.shape, region.settings)
    p = run_length_counts(region, angles)
    norm = region.settings.get("weightingNorm")
    if norm is not None:
        weights, _ = angle_weights(angles, region.spacing, norm)
        p = (p * torch.as_tensor(weights, device=p.device)[:, None, None]).sum(0, keepdim=True)
    if p.shape[0] > 1:
        p = p[p.sum((1, 2)) > 0]
    return p


class _Terms:
    """Per-angle quantities of PyRadiomics' ``_calculateCoefficients`` (A angles, G levels, Nr lengths)."""

    def __init__(self, region: Region, p: torch.Tensor) -> None:
        self.p = p                                                       # (A, G, Nr)
        runs = p.sum((1, 2))
        self.runs = torch.where(runs == 0, torch.nan, runs)              # Nr(a)
        self.pr, self.pg = p.sum(1), p.sum(2)                            # (A, Nr), (A, G)
        self.i = region.binned.gray_levels.to(p.dtype)                   # (G,)
        self.j = torch.arange(1, p.shape[2] + 1, dtype=p.dtype, device=p.device)   # (Nr,)

    def emphasis(self, weights: torch.Tensor) -> torch.Tensor:
        """sum_ij P(i, j) w(i, j) / Nr(a) for (G, Nr) weights."""
        return (self.p * weights).sum((1, 2)) / self.runs

    def entropy(self) -> torch.Tensor:
        p = self.p / self.runs[:, None, None]
        return -(p * torch.log2(p + EPS)).sum((1, 2))

    def variance(self, marginal: torch.Tensor, values: torch.Tensor) -> torch.Tensor:
        share = marginal / self.runs[:, None]
        mean = (share * values).sum(1, keepdim=True)
        return (share * (values - mean) ** 2).sum(1)


_FORMULAS: dict[str, Callable[[_Terms], torch.Tensor]] = {
    "ShortRunEmphasis": lambda t: (t.pr / t.j ** 2).sum(1) / t.runs,
    "LongRunEmphasis": lambda t: (t.pr * t.j ** 2).sum(1) / t.runs,
    "GrayLevelNonUniformity": lambda t: (t.pg ** 2).sum(1) / t.runs,
    "GrayLevelNonUniformityNormalized": lambda t: (t.pg ** 2).sum(1) / t.runs ** 2,
    "RunLengthNonUniformity": lambda t: (t.pr ** 2).sum(1) / t.runs,
    "RunLengthNonUniformityNormalized": lambda t: (t.pr ** 2).sum(1) / t.runs ** 2,
    "RunPercentage": lambda t: t.runs / (t.pr * t.j).sum(1),
    "GrayLevelVariance": lambda t: t.variance(t.pg, t.i),
    "RunVariance": lambda t: t.variance(t.pr, t.j),
    "RunEntropy": _Terms.entropy,
    "LowGrayLevelRunEmphasis": lambda t: (t.pg / t.i ** 2).sum(1) / t.runs,
    "HighGrayLevelRunEmphasis": lambda t: (t.pg * t.i ** 2).sum(1) / t.runs,
    "ShortRunLowGrayLevelEmphasis": lambda t: t.emphasis(1 / (t.i[:, None] ** 2 * t.j ** 2)),
    "ShortRunHighGrayLevelEmphasis": lambda t: t.emphasis(t.i[:, None] ** 2 / t.j ** 2),
    "LongRunLowGrayLevelEmphasis": lambda t: t.emphasis(t.j ** 2 / t.i[:, None] ** 2),
    "LongRunHighGrayLevelEmphasis": lambda t: t.emphasis(t.i[:, None] ** 2 * t.j ** 2),
}
