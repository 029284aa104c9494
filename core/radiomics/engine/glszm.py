"""Grey Level Size Zone Matrix features, as PyRadiomics' ``RadiomicsGLSZM``.

A zone is a 26-connected set (8-connected in the plane with ``force2D``) of voxels of the
mask with one grey level, as ``calculate_glszm`` in cmatrices.c; P(i, j) counts the zones
of level i and j voxels; rows of absent levels and columns of absent sizes are dropped.

Zones are found the same way on the CPU and on a GPU, with tensor operations only: the
region is cut into runs (maximal sequences of equal level along x); two runs are linked
when they lie in neighbouring rows, share the level and overlap once one of them is
widened by a voxel, which the start voxel of one of the two sees at its x - 1 or x in the
other's row; the zones are the connected components of that graph of runs (hooking to
the smaller root, then pointer jumping, until every link joins one tree).

:func:`zone_matrix_features` holds the formulas GLSZM shares with GLDM (by GLSZM's names).
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
import torch

from core.radiomics.engine.names import requested
from core.radiomics.engine.neighbourhood import FlatGrid, plane_dimension
from core.radiomics.engine.region import Region

FEATURES: tuple[str, ...] = (
    "SmallAreaEmphasis", "LargeAreaEmphasis", "GrayLevelNonUniformity", "GrayLevelNonUniformityNormalized",
    "SizeZoneNonUniformity", "SizeZoneNonUniformityNormalized", "ZonePercentage", "GrayLevelVariance",
    "ZoneVariance", "ZoneEntropy", "LowGrayLevelZoneEmphasis", "HighGrayLevelZoneEmphasis",
    "SmallAreaLowGrayLevelEmphasis", "SmallAreaHighGrayLevelEmphasis", "LargeAreaLowGrayLevelEmphasis",
    "LargeAreaHighGrayLevelEmphasis",
)


def features(region: Region, names: Sequence[str] | None = None) -> dict[str, torch.Tensor]:
    """GLSZM features of ``region``: {name: 0-dim float64 tensor on the region's device}."""
    wanted = requested(names, FEATURES, "GLSZM")
    matrix, sizes = size_zone_matrix(region)
    values = zone_matrix_features(matrix, region.binned.gray_levels.to(torch.float64), sizes)
    values["ZonePercentage"] = matrix.sum() / (matrix.sum(0) * sizes).sum()
    return {name: values[name] for name in wanted}


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


def size_zone_matrix(region: Region) -> tuple[torch.Tensor, torch.Tensor]:
    """PyRadiomics' GLSZM of the region, absent grey levels and zone sizes removed.

    Returns P: (G, J) float64 zone counts, rows the region's grey levels in ascending order,
    and j: (J,) float64 the zone sizes present (voxels), ascending.
    """
    binned = region.binned
    small = next(t for t in (torch.int8, torch.int16, torch.int32, torch.int64) if binned.ng <= torch.iinfo(t).max)
    zone_levels, zone_sizes = zones(binned.levels.to(small), plane_dimension(region.settings))
    device = binned.levels.device
    row = torch.zeros(binned.ng + 1, dtype=torch.int64, device=device)
    row[binned.gray_levels] = torch.arange(len(binned.gray_levels), device=device)
    sizes, column = torch.unique(zone_sizes, sorted=True, return_inverse=True)
    n_levels, n_sizes = len(binned.gray_levels), len(sizes)
    counts = torch.bincount(row.index_select(0, zone_levels) * n_sizes + column, minlength=n_levels * n_sizes)
    return counts.view(n_levels, n_sizes).to(torch.float64), sizes.to(torch.float64)


def zones(levels: torch.Tensor, plane_dim: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Grey level and size (voxels) of every zone, each (Nz,) int64, in no particular order.

    levels: (z, y, x) integers (any integer dtype), > 0 inside the mask and 0 outside. With ``plane_dim`` zones
    do not extend along that axis.
    """
    if plane_dim is not None:
        levels = levels.movedim(plane_dim, 0)
    grid = FlatGrid.of(levels, 1, 0)
    lev = grid.values
    centre = grid.at((0, 0, 0))
    inside = centre > 0
    first = inside & (centre != grid.at((0, 0, -1)))
    last = inside & (centre != grid.at((0, 0, 1)))
    starts = torch.nonzero(first).squeeze(1) + grid.start          # flat index of each run's first voxel
    lengths = torch.nonzero(last).squeeze(1) + grid.start - starts + 1
    run_level = lev.index_select(0, starts)
    ids = torch.int32 if len(starts) < torch.iinfo(torch.int32).max else torch.int64
    run = torch.zeros(lev.shape, dtype=ids, device=lev.device)
    run[grid.start:grid.stop] = torch.cumsum(first, 0, dtype=ids) - 1   # run id of every voxel of a run
    rows = [(dz, dy) for dz in (-1, 0, 1) for dy in (-1, 0, 1)
            if (dz, dy) != (0, 0) and (plane_dim is None or dz == 0)]
    shifts, links = [], []
    for dz, dy in rows:
        # A run starting at x links to the runs of its level at x - 1 or x in the other row; a
        # run there at x + 1 but not x starts at x + 1 and finds this one at its own x - 1.
        shift = grid.shift((dz, dy, 0))
        before, at = (lev.index_select(0, starts + shift + dx) == run_level for dx in (-1, 0))
        links += [before & ~at, at]
        shifts += [shift - 1, shift]
    direction, a = (t.contiguous() for t in torch.nonzero(torch.stack(links)).unbind(1))
    shift = torch.tensor(shifts, device=lev.device).index_select(0, direction)
    b = run.index_select(0, starts.index_select(0, a) + shift).long()
    root = _components(len(starts), a, b)
    is_root = root == torch.arange(len(starts), device=lev.device)
    sizes = torch.zeros(len(starts), dtype=torch.int64, device=lev.device).index_add_(0, root, lengths)
    return run_level[is_root].long(), sizes[is_root]


def _components(n: int, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Root of every node of the undirected graph on n nodes with edges (a[k], b[k]).

    Each node's root is a node of its component, the same for the whole component.
    """
    parent = torch.arange(n, device=a.device)
    while a.numel():                                # a and b are roots here
        low = torch.minimum(a, b)                   # hook each root to the smaller root across an edge
        parent.scatter_reduce_(0, a, low, "amin")
        parent.scatter_reduce_(0, b, low, "amin")
        while True:                                 # pointer jumping: every node to its tree's root
            grand = parent.index_select(0, parent)
            if torch.equal(grand, parent):
                break
            parent = grand
        # An edge joins its ends' trees: carry on with the edges between roots of different trees.
        a, b = parent.index_select(0, a), parent.index_select(0, b)
        keep = torch.nonzero(a != b).squeeze(1)
        a, b = a.index_select(0, keep), b.index_select(0, keep)
    return parent
