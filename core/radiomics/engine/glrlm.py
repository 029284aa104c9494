"""Grey Level Run Length Matrix features, as PyRadiomics' ``RadiomicsGLRLM``.

For each of PyRadiomics' angles at distance 1 (:mod:`.directions`) P_a(i, j) counts the runs
of length j of level i: maximal sets of consecutive region voxels of one level along a line
of direction a (C's ``calculate_glrlm``). Rows are the G levels present, columns the run
lengths 1..Nr with Nr the region's largest dimension (empty columns change no feature, so
they are kept). An angle along which no line holds two region voxels is zeroed (C's
``multiElement``); ``weightingNorm`` sums the angles weighted by their length in mm under
that norm (1 for 'no_weighting'); without weighting, angles with no run are dropped. Every
feature is computed per angle with Nr(a), the number of runs, and averaged ignoring NaN.

How the runs are found with tensor operations: the region's level indices are padded by one
voxel (:func:`~.directions.level_volume`), so that in the C-order flat index of the padded
volume an angle is one positive step s, and the voxels f, f + s, f + 2s, ... of a residue
class modulo s follow lines of that direction one after the other, a padding voxel between
two lines. Viewing the flat volume as (rows, s) and transposing it lays every residue class
out contiguously. Doing so for every angle, each voxel's value coding its angle and level (in
the region), its angle (outside) or padding, gives one sequence in which every run of every
angle is a maximal stretch of one value: where the value changes gives each stretch's length
and value, and one histogram of (value, length) all the matrices.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import torch

from core.radiomics.engine.directions import angle_weights, flat_steps, level_volume, region_angles
from core.radiomics.engine.gldm import requested
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
    binned = region.binned
    count, levels = len(angles), binned.gray_levels.numel()
    longest = max(region.mask.shape)                       # PyRadiomics' Nr
    flat = level_volume(binned, 1, pad=-1).flatten()
    if count * (levels + 1) >= torch.iinfo(flat.dtype).max:
        flat = flat.to(torch.int32)
    steps = flat_steps(angles, [n + 2 for n in region.mask.shape])
    sizes = [-(-flat.numel() // step) * step for step in steps]   # whole rows of each step
    flat = torch.cat([flat, flat.new_full((max(sizes) - flat.numel(),), -1)])
    # The value of a voxel in angle a's block: a * G + level index - 1 inside the region,
    # A * G + a outside it, A * G + A padding: every stretch outside the region codes above
    # every run (see the histogram below) and none merges with a neighbouring block's.
    base = torch.where(flat > 0, flat - 1, torch.where(flat == 0, count * levels, count * (levels + 1)))
    shift = torch.where(flat > 0, levels, torch.where(flat == 0, 1, 0)).to(flat.dtype)
    sequence = flat.new_empty(sum(sizes))
    block = torch.empty_like(flat)
    offset = 0
    for a, (step, size) in enumerate(zip(steps, sizes)):   # residue classes mod step, each contiguous
        target = sequence[offset:offset + size]
        if step == 1:                                      # already in order (a (1, n) transposed copy is slow)
            torch.add(base[:size], shift[:size], alpha=a, out=target)
        else:
            torch.add(base[:size], shift[:size], alpha=a, out=block[:size])
            target.view(step, size // step).copy_(block[:size].view(-1, step).t())
        offset += size
    ends = torch.nonzero(sequence[1:] != sequence[:-1]).flatten()   # last voxel of each stretch
    values = sequence[1:].index_select(0, ends[:-1])       # the stretch that starts after each end
    codes = torch.diff(ends).add_(values, alpha=longest + 1)   # value * (Nr + 1) + length
    codes.clamp_(max=count * levels * (longest + 1))
    counts = torch.bincount(codes, minlength=count * levels * (longest + 1) + 1)
    p = counts[:-1].reshape(count, levels, longest + 1)[:, :, 1:].to(torch.float64)
    single = p[:, :, 1:].sum((1, 2)) == 0                  # angles whose runs all have length 1
    if bool(single.any()):
        p = p * _several_per_line(values, codes % (longest + 1), count, levels)[:, None, None]
    return p


def _several_per_line(values: torch.Tensor, lengths: torch.Tensor, count: int, levels: int) -> torch.Tensor:
    """(A,) bool: whether some line of each angle holds two region voxels (C's ``multiElement``).

    ``values``, ``lengths``: the stretches in sequence order (lengths exact for runs). A
    line holds two where a run is longer than 1 or follows another run of its line directly
    or past one stretch outside the region (past padding it is another line's).
    """
    inside = values < count * levels
    outside = (values >= count * levels) & (values < count * levels + count)
    follows = torch.zeros_like(inside)
    follows[1:] = inside[:-1]
    follows[2:] |= outside[1:-1] & inside[:-2]
    several = inside & ((lengths > 1) | follows)
    angle = torch.where(inside, values // levels, values - count * levels).clamp(max=count - 1).long()
    return torch.zeros(count, dtype=torch.float64, device=values.device).index_add_(0, angle, several.double()) > 0


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
