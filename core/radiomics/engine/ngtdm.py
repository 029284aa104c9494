"""Neighbouring Grey Tone Difference Matrix features, as PyRadiomics' ``RadiomicsNGTDM``.

For every voxel of the region, the mean grey level of its neighbours (PyRadiomics' angles
for ``distances``, both directions; only neighbours inside the image and the mask; the
voxel itself excluded), as ``calculate_ngtdm`` in cmatrices.c. Per grey level i: n_i the
voxels of level i, s_i the sum of |i - mean|. A voxel with no neighbour in the mask still
counts in n_i, with a difference of 0, as in the C code.

The neighbourhood is a union of Chebyshev shells, so its sums are differences of box sums,
which are separable: a few shifted additions per axis instead of one per neighbour.
"""
from __future__ import annotations

from typing import Sequence

import torch

from core.radiomics.engine.names import requested
from core.radiomics.engine.neighbourhood import distances, plane_dimension
from core.radiomics.engine.region import Region

FEATURES: tuple[str, ...] = ("Coarseness", "Contrast", "Busyness", "Complexity", "Strength")


def features(region: Region, names: Sequence[str] | None = None) -> dict[str, torch.Tensor]:
    """NGTDM features of ``region``: {name: 0-dim float64 tensor on the region's device}."""
    wanted = requested(names, FEATURES, "NGTDM")
    n, s = difference_matrix(region)
    i = region.binned.gray_levels.to(torch.float64)
    n_valid = n.sum()
    p = n / n_valid
    n_levels = torch.tensor(float(len(i)), dtype=torch.float64, device=i.device)
    zero = torch.zeros((), dtype=torch.float64, device=i.device)
    pairs = p[:, None] * p[None, :]
    squared = (i[:, None] - i[None, :]) ** 2
    ps = p * s
    coarse = ps.sum()
    i_p = i * p
    spread = (i_p[:, None] - i_p[None, :]).abs().sum()
    divisor = n_levels * (n_levels - 1)
    values = {
        "Coarseness": torch.where(coarse != 0, 1 / coarse, torch.full_like(coarse, 1e6)),
        "Contrast": torch.where(divisor != 0, (pairs * squared).sum() * s.sum() / n_valid / divisor, zero),
        "Busyness": torch.where(spread != 0, coarse / spread, zero),
        "Complexity": ((i[:, None] - i[None, :]).abs() * (ps[:, None] + ps[None, :])
                       / (p[:, None] + p[None, :])).sum() / n_valid,
        "Strength": torch.where(s.sum() != 0, ((p[:, None] + p[None, :]) * squared).sum() / s.sum(), zero),
    }
    return {name: values[name] for name in wanted}


def difference_matrix(region: Region) -> tuple[torch.Tensor, torch.Tensor]:
    """(n_i, s_i): (G,) float64 each, for the region's grey levels in ascending order."""
    binned = region.binned
    chebyshev = distances(region.settings)
    plane_dim = plane_dimension(region.settings)
    levels = binned.levels.to(torch.int32)                     # 0 outside the mask
    voxels = region.voxels
    total = _neighbourhood_sum(levels, chebyshev, plane_dim).flatten().index_select(0, voxels)
    count = region.cached(("ngtdm neighbours", chebyshev, plane_dim), lambda: _neighbourhood_sum(
        region.mask.to(torch.int32), chebyshev, plane_dim).flatten().index_select(0, voxels))
    mean = total.to(torch.float64) / count.clamp(min=1).to(torch.float64)
    centre = binned.levels.flatten().index_select(0, voxels)
    difference = torch.where(count > 0, (centre.to(torch.float64) - mean).abs(), 0.0)
    n = torch.bincount(centre, minlength=binned.ng + 1)
    s = torch.bincount(centre, weights=difference, minlength=binned.ng + 1)
    return n[binned.gray_levels].to(torch.float64), s[binned.gray_levels]


def _neighbourhood_sum(volume: torch.Tensor, chebyshev: Sequence[int], plane_dim: int | None) -> torch.Tensor:
    """Sum over each voxel's neighbours (offsets at the Chebyshev distances, none along plane_dim).

    volume: (z, y, x), zero wherever a voxel must not count; outside the volume counts as zero.
    """
    pad = max(chebyshev)
    padded = torch.nn.functional.pad(volume, (pad,) * 6)
    total = torch.zeros_like(volume)
    for d in chebyshev:               # shell d = box of radius d minus box of radius d - 1
        total += _box_sum(padded, d, pad, plane_dim) - _box_sum(padded, d - 1, pad, plane_dim)
    return total


def _box_sum(padded: torch.Tensor, radius: int, pad: int, plane_dim: int | None) -> torch.Tensor:
    """Sum over the (2 radius + 1)^3 box (a square in the plane when plane_dim is set) of each voxel.

    padded: the volume with ``pad >= radius`` zeros on every side; returns the volume's shape.
    """
    out = padded
    for axis in range(3):
        n = out.shape[axis] - 2 * pad
        reach = 0 if axis == plane_dim else radius
        acc = out.narrow(axis, pad - reach, n)
        for k in range(-reach + 1, reach + 1):
            acc = acc + out.narrow(axis, pad + k, n)
        out = acc
    return out
