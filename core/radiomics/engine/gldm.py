"""Grey Level Dependence Matrix features, as PyRadiomics' ``RadiomicsGLDM``.

A voxel of grey level i with k dependent neighbours (neighbours inside the mask whose level
differs from i by at most ``gldm_a``; the neighbours are PyRadiomics' angles for
``distances``, both directions, as ``calculate_gldm`` in cmatrices.c) counts in P(i, k + 1).
Rows of absent grey levels and columns of absent dependence sizes are dropped.

This module also holds what GLDM shares with GLSZM and NGTDM: the neighbourhood settings,
the neighbour offsets, a flat padded grid on which a neighbour at a fixed offset is one
contiguous slice, and the formulas common to the size-zone and dependence matrices.
"""
from __future__ import annotations

from dataclasses import dataclass
from itertools import product
from typing import Any, Mapping, Sequence

import numpy as np
import torch

from core.radiomics.engine.region import Region

FEATURES: tuple[str, ...] = (
    "SmallDependenceEmphasis", "LargeDependenceEmphasis", "GrayLevelNonUniformity",
    "DependenceNonUniformity", "DependenceNonUniformityNormalized", "GrayLevelVariance",
    "DependenceVariance", "DependenceEntropy", "LowGrayLevelEmphasis", "HighGrayLevelEmphasis",
    "SmallDependenceLowGrayLevelEmphasis", "SmallDependenceHighGrayLevelEmphasis",
    "LargeDependenceLowGrayLevelEmphasis", "LargeDependenceHighGrayLevelEmphasis",
)

# GLDM name -> name of the same formula in zone_matrix_features (GLSZM's names).
_ZONE_NAMES = {
    "SmallDependenceEmphasis": "SmallAreaEmphasis",
    "LargeDependenceEmphasis": "LargeAreaEmphasis",
    "GrayLevelNonUniformity": "GrayLevelNonUniformity",
    "DependenceNonUniformity": "SizeZoneNonUniformity",
    "DependenceNonUniformityNormalized": "SizeZoneNonUniformityNormalized",
    "GrayLevelVariance": "GrayLevelVariance",
    "DependenceVariance": "ZoneVariance",
    "DependenceEntropy": "ZoneEntropy",
    "LowGrayLevelEmphasis": "LowGrayLevelZoneEmphasis",
    "HighGrayLevelEmphasis": "HighGrayLevelZoneEmphasis",
    "SmallDependenceLowGrayLevelEmphasis": "SmallAreaLowGrayLevelEmphasis",
    "SmallDependenceHighGrayLevelEmphasis": "SmallAreaHighGrayLevelEmphasis",
    "LargeDependenceLowGrayLevelEmphasis": "LargeAreaLowGrayLevelEmphasis",
    "LargeDependenceHighGrayLevelEmphasis": "LargeAreaHighGrayLevelEmphasis",
}


def features(region: Region, names: Sequence[str] | None = None) -> dict[str, torch.Tensor]:
    """GLDM features of ``region``: {name: 0-dim float64 tensor on the region's device}."""
    wanted = requested(names, FEATURES, "GLDM")
    matrix, dependence = dependence_matrix(region)
    values = zone_matrix_features(matrix, region.binned.gray_levels.to(torch.float64), dependence)
    return {name: values[_ZONE_NAMES[name]] for name in wanted}


def dependence_matrix(region: Region) -> tuple[torch.Tensor, torch.Tensor]:
    """PyRadiomics' GLDM of the region, absent grey levels and dependence sizes removed.

    Returns P: (G, D) float64 voxel counts, rows the region's grey levels in ascending order,
    and j: (D,) float64 the dependence sizes present (dependent neighbours + 1).
    """
    binned = region.binned
    alpha = region.settings.get("gldm_a", 0)
    if isinstance(alpha, bool) or int(alpha) != alpha or alpha < 0:
        raise ValueError(f"gldm_a must be an integer >= 0 (as in PyRadiomics' parameter schema), got {alpha!r}")
    alpha = int(alpha)
    chebyshev = distances(region.settings)
    offsets = neighbour_offsets(chebyshev, plane_dimension(region.settings))
    # Outside the mask a level no voxel of the region is within alpha of: |level - fill| > alpha.
    fill = -(alpha + 1)
    small = torch.int16 if binned.ng + alpha + 1 < torch.iinfo(torch.int16).max else torch.int32
    levels = torch.where(region.mask, binned.levels, fill).to(small)
    grid = FlatGrid.of(levels, max(chebyshev), fill)
    centre = grid.at((0, 0, 0))
    dependent = torch.zeros(centre.shape, dtype=torch.int16, device=centre.device)
    for offset in offsets:
        neighbour = grid.at(offset)
        dependent += centre == neighbour if alpha == 0 else (centre - neighbour).abs() <= alpha
    inside = centre != fill
    n_sizes = len(offsets) + 1
    counts = torch.bincount((centre[inside].long() - 1) * n_sizes + dependent[inside].long(),
                            minlength=binned.ng * n_sizes).view(binned.ng, n_sizes)
    counts = counts[binned.gray_levels - 1]
    present = counts.sum(0) > 0
    sizes = torch.arange(1, n_sizes + 1, dtype=torch.float64, device=counts.device)
    return counts[:, present].to(torch.float64), sizes[present]


def zone_matrix_features(matrix: torch.Tensor, i: torch.Tensor, j: torch.Tensor) -> dict[str, torch.Tensor]:
    """The formulas GLSZM and GLDM share, by GLSZM's names (PyRadiomics' arithmetic).

    matrix: (G, J) float64 counts P(i, j) with no empty row or column; i: (G,) grey levels;
    j: (J,) zone sizes (GLSZM) or dependence sizes (GLDM). Returns 0-dim float64 tensors.
    """
    n_zones = matrix.sum()
    by_size = matrix.sum(0)
    by_level = matrix.sum(1)
    i2, j2 = (i ** 2)[:, None], (j ** 2)[None, :]
    p_level, p_size = by_level / n_zones, by_size / n_zones
    mean_i = (p_level * i).sum()
    mean_j = (p_size * j).sum()
    p = matrix / n_zones
    eps = float(np.spacing(1))
    return {
        "SmallAreaEmphasis": (by_size / j ** 2).sum() / n_zones,
        "LargeAreaEmphasis": (by_size * j ** 2).sum() / n_zones,
        "GrayLevelNonUniformity": (by_level ** 2).sum() / n_zones,
        "GrayLevelNonUniformityNormalized": (by_level ** 2).sum() / n_zones ** 2,
        "SizeZoneNonUniformity": (by_size ** 2).sum() / n_zones,
        "SizeZoneNonUniformityNormalized": (by_size ** 2).sum() / n_zones ** 2,
        "GrayLevelVariance": (p_level * (i - mean_i) ** 2).sum(),
        "ZoneVariance": (p_size * (j - mean_j) ** 2).sum(),
        "ZoneEntropy": -(p * torch.log2(p + eps)).sum(),
        "LowGrayLevelZoneEmphasis": (by_level / i ** 2).sum() / n_zones,
        "HighGrayLevelZoneEmphasis": (by_level * i ** 2).sum() / n_zones,
        "SmallAreaLowGrayLevelEmphasis": (matrix / (i2 * j2)).sum() / n_zones,
        "SmallAreaHighGrayLevelEmphasis": (matrix * i2 / j2).sum() / n_zones,
        "LargeAreaLowGrayLevelEmphasis": (matrix * j2 / i2).sum() / n_zones,
        "LargeAreaHighGrayLevelEmphasis": (matrix * i2 * j2).sum() / n_zones,
    }


def requested(names: Sequence[str] | None, available: tuple[str, ...], feature_class: str) -> tuple[str, ...]:
    """``names`` checked against a class's ``FEATURES`` (None: all of them)."""
    if names is None:
        return available
    unknown = [name for name in names if name not in available]
    if unknown:
        raise ValueError(f"unknown {feature_class} feature(s) {unknown}; expected names of {list(available)}")
    return tuple(names)


def distances(settings: Mapping[str, Any]) -> tuple[int, ...]:
    """PyRadiomics' ``distances`` setting (default [1]): the neighbourhood's Chebyshev distances."""
    values = settings.get("distances", [1])
    if len(values) == 0 or any(isinstance(d, bool) or int(d) != d or d < 1 for d in values):
        raise ValueError(f"distances must be a non-empty list of integers >= 1, got {values!r}")
    return tuple(sorted({int(d) for d in values}))


def plane_dimension(settings: Mapping[str, Any]) -> int | None:
    """The (z, y, x) axis no neighbour offset moves along (``force2Ddimension`` with ``force2D``), else None."""
    if not settings.get("force2D", False):
        return None
    axis = settings.get("force2Ddimension", 0)
    if axis not in (0, 1, 2):
        raise ValueError(f"force2Ddimension must be 0, 1 or 2, got {axis!r}")
    return int(axis)


def neighbour_offsets(chebyshev: Sequence[int], plane_dim: int | None = None) -> list[tuple[int, int, int]]:
    """(z, y, x) offsets of PyRadiomics' angles in both directions (``build_angles``).

    Every offset whose largest |component| is one of ``chebyshev``, none moving along
    ``plane_dim``. The C code also drops offsets longer than the image along an axis; those
    never reach a voxel inside the image, so keeping them changes no count.
    """
    reach = max(chebyshev)
    steps = range(-reach, reach + 1)
    return [o for o in product(steps, steps, steps)
            if max(abs(c) for c in o) in chebyshev and (plane_dim is None or o[plane_dim] == 0)]


@dataclass(frozen=True)
class FlatGrid:
    """A (z, y, x) volume padded by ``pad`` voxels of a fill value on every side, flattened.

    values: (M,) the padded volume in C order; start, stop: the flat range from the
    volume's first to its last voxel; strides: flat strides of (z, y, x). ``at(offset)`` is
    the (stop - start,) slice whose element k is the neighbour at ``offset`` of the element k
    of ``at((0, 0, 0))``; padding voxels inside the range are ordinary elements there.
    """

    values: torch.Tensor
    start: int
    stop: int
    strides: tuple[int, int, int]

    @classmethod
    def of(cls, volume: torch.Tensor, pad: int, fill: int | float | bool) -> FlatGrid:
        z, y, x = volume.shape
        padded = torch.full((z + 2 * pad, y + 2 * pad, x + 2 * pad), fill, dtype=volume.dtype, device=volume.device)
        padded[pad:pad + z, pad:pad + y, pad:pad + x] = volume
        strides = ((y + 2 * pad) * (x + 2 * pad), x + 2 * pad, 1)
        first = pad * sum(strides)
        last = first + (z - 1) * strides[0] + (y - 1) * strides[1] + (x - 1)
        return cls(padded.reshape(-1), first, last + 1, strides)

    def shift(self, offset: Sequence[int]) -> int:
        """Flat distance of a (z, y, x) offset."""
        return sum(o * s for o, s in zip(offset, self.strides))

    def at(self, offset: Sequence[int]) -> torch.Tensor:
        shift = self.shift(offset)
        return self.values[self.start + shift:self.stop + shift]
