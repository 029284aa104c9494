"""Grey Level Dependence Matrix features, as PyRadiomics' ``RadiomicsGLDM``.

A voxel of grey level i with k dependent neighbours (neighbours inside the mask whose level
differs from i by at most ``gldm_a``; the neighbours are PyRadiomics' angles for
``distances``, both directions, as ``calculate_gldm`` in cmatrices.c) counts in P(i, k + 1).
Rows of absent grey levels and columns of absent dependence sizes are dropped; the
features are the size-zone formulas of :func:`~.glszm.zone_matrix_features` on this matrix.
"""
from __future__ import annotations

from typing import Sequence

import torch

from core.radiomics.engine.glszm import zone_matrix_features
from core.radiomics.engine.names import requested
from core.radiomics.engine.neighbourhood import FlatGrid, distances, neighbour_offsets, plane_dimension
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
    voxel_levels = binned.gray_levels.index_select(0, binned.indices.long())       # (N,) levels 1..Ng
    small = next(t for t in (torch.int8, torch.int16, torch.int32) if binned.ng + alpha + 1 < torch.iinfo(t).max)
    levels = torch.full((region.mask.numel(),), fill, dtype=small, device=region.device)
    levels.index_copy_(0, region.voxels, voxel_levels.to(small))
    grid = FlatGrid.of(levels.view(region.mask.shape), max(chebyshev), fill)
    centre = grid.at((0, 0, 0))
    counter = torch.int8 if len(offsets) <= torch.iinfo(torch.int8).max else torch.int16
    dependent = torch.zeros(centre.shape, dtype=counter, device=centre.device)
    for offset in offsets:
        neighbour = grid.at(offset)
        dependent += centre == neighbour if alpha == 0 else (centre - neighbour).abs() <= alpha
    inside = region.cached(("gldm grid", max(chebyshev)), lambda: grid.positions(region.mask))
    n_sizes = len(offsets) + 1
    counts = torch.bincount((voxel_levels - 1) * n_sizes + dependent.index_select(0, inside).long(),
                            minlength=binned.ng * n_sizes).view(binned.ng, n_sizes)
    counts = counts[binned.gray_levels - 1]
    present = counts.sum(0) > 0
    sizes = torch.arange(1, n_sizes + 1, dtype=torch.float64, device=counts.device)
    return counts[:, present].to(torch.float64), sizes[present]
