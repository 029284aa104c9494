"""Neighbourhoods of the texture classes, as PyRadiomics' C code (``cmatrices.c``) walks them.

Angles (GLCM, GLRLM): PyRadiomics' ``get_angle_count`` / ``build_angles`` (exposed as
``radiomics.cMatrices.generate_angles``) enumerate offsets in array order (z, y, x), each
from ``+max(distances)`` down to ``-max(distances)`` with the last dimension fastest, keep an
offset when it is not (0, 0, 0), its infinity norm is one of ``distances``, it does not move
in the ``force2D`` dimension and every component is smaller in magnitude than the region's
size in that dimension; the mono-directional set is the first half of that list (the second
half mirrors it). For distance 1 in 3D these are the 13 angles
(1,1,1), (1,1,0), (1,1,-1), (1,0,1), (1,0,0), (1,0,-1), (1,-1,1), (1,-1,0), (1,-1,-1),
(0,1,1), (0,1,0), (0,1,-1), (0,0,1).

Neighbour offsets (GLDM, GLSZM, NGTDM): the same offsets in both directions, read from the
``distances``, ``force2D`` and ``force2Ddimension`` settings (:func:`distances`,
:func:`plane_dimension`, :func:`neighbour_offsets`).

Grids: the distance of each angle under PyRadiomics' ``weightingNorm`` (:func:`angle_weights`);
the constant step of an angle in the C-order flat index of a volume (:func:`flat_steps`); and
a flat padded volume on which the neighbour at a fixed offset of every voxel is one
contiguous slice (:class:`FlatGrid`).
"""
from __future__ import annotations

import itertools
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

logger = logging.getLogger(__name__)

WEIGHTING_NORMS = ("manhattan", "euclidean", "infinity", "no_weighting")


def generate_angles(size: Sequence[int], distances: Sequence[int] = (1,),
                    force2d_dimension: int | None = None, bidirectional: bool = False) -> np.ndarray:
    """(Na, 3) int64 offsets (z, y, x) in PyRadiomics' order, for a region of ``size`` (z, y, x) voxels.

    ``force2d_dimension``: the array dimension (0 = z) in which no angle moves, or None (3D).
    Raises ValueError when no angle fits, where PyRadiomics raises a RuntimeError.
    """
    distances = [int(d) for d in distances]
    if not distances or min(distances) < 1:
        raise ValueError(f"distances must be integers >= 1, got {list(distances)}")
    reach = max(distances)
    offsets = range(reach, -reach - 1, -1)
    angles = []
    for angle in itertools.product(offsets, repeat=len(size)):
        if any(a != 0 and dim == force2d_dimension for dim, a in enumerate(angle)):
            continue
        if any(abs(a) >= s for a, s in zip(angle, size)):
            continue
        if max(abs(a) for a in angle) in distances:
            angles.append(angle)
    if not angles:    # PyRadiomics raises too ("Error getting angle count")
        plane = "" if force2d_dimension is None else f" without moving in dimension {force2d_dimension}"
        raise ValueError(f"no angle at distances {distances} fits a region of {tuple(size)} voxels (z, y, x){plane}")
    if not bidirectional:
        angles = angles[:len(angles) // 2]
    return np.array(angles, dtype=np.int64).reshape(-1, len(size))


def region_angles(shape: Sequence[int], settings: Mapping[str, Any], distances: Sequence[int] = (1,)) -> np.ndarray:
    """The angles PyRadiomics' C matrices use for a region of ``shape`` (z, y, x) under ``settings``."""
    return generate_angles(shape, distances, plane_dimension(settings))


def angle_weights(angles: np.ndarray, spacing: Sequence[float], norm: str) -> tuple[np.ndarray, bool]:
    """(Na,) length in mm of each angle's step under ``weightingNorm`` ``norm``, and whether it weighs.

    ``spacing``: (x, y, z) mm, SimpleITK's order (the angles are (z, y, x)). For
    'no_weighting' and, as in PyRadiomics (which logs a warning), an unknown norm every angle
    weighs 1 (the flag is False: the class then uses 1, not a function of the length).
    """
    steps = np.abs(angles) * np.asarray(spacing, dtype=np.float64)[::-1]
    if norm == "infinity":
        return steps.max(axis=1), True
    if norm == "euclidean":
        return np.sqrt((steps ** 2).sum(axis=1)), True
    if norm == "manhattan":
        return steps.sum(axis=1), True
    if norm != "no_weighting":
        logger.warning("weightingNorm %r is unknown (expected one of %s): every angle gets weight 1",
                       norm, ", ".join(WEIGHTING_NORMS))
    return np.ones(len(angles)), False


def flat_steps(angles: np.ndarray, shape: Sequence[int]) -> list[int]:
    """Step in the C-order flat index of a (z, y, x) array of ``shape`` along each angle.

    Positive for PyRadiomics' mono-directional angles (first non-zero component positive)
    when every component is smaller in magnitude than the array's size in its dimension.
    """
    strides = (shape[1] * shape[2], shape[2], 1)
    return [int(np.dot(angle, strides)) for angle in angles]


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
    angles = generate_angles((reach + 1,) * 3, chebyshev, plane_dim, bidirectional=True)   # none too long
    return [tuple(int(c) for c in angle) for angle in angles]


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

    def positions(self, mask: torch.Tensor) -> torch.Tensor:
        """(N,) int64 indices into ``at(...)`` slices of the True voxels of a (z, y, x) mask of the
        volume's shape, in C order."""
        z, y, x = (torch.nonzero(mask).unbind(1))
        return z * self.strides[0] + y * self.strides[1] + x

    def at(self, offset: Sequence[int]) -> torch.Tensor:
        shift = self.shift(offset)
        return self.values[self.start + shift:self.stop + shift]
