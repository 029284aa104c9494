"""Neighbour directions of the texture classes, as PyRadiomics generates them.

PyRadiomics' C extension (``cmatrices.c``: ``get_angle_count`` / ``build_angles``, exposed as
``radiomics.cMatrices.generate_angles``) enumerates offsets in array order (z, y, x), each
from ``+max(distances)`` down to ``-max(distances)`` with the last dimension fastest, keeps an
offset when it is not (0, 0, 0), its infinity norm is one of ``distances``, it does not move
in the ``force2D`` dimension and every component is smaller in magnitude than the region's
size in that dimension; the mono-directional set is the first half of that list (the second
half mirrors it). For distance 1 in 3D these are the 13 angles
(1,1,1), (1,1,0), (1,1,-1), (1,0,1), (1,0,0), (1,0,-1), (1,-1,1), (1,-1,0), (1,-1,-1),
(0,1,1), (0,1,0), (0,1,-1), (0,0,1).

Also here: the distance of each angle under PyRadiomics' ``weightingNorm``
(:func:`angle_weights`), and a padded volume of grey-level indices (:func:`level_volume`) in
whose C-order flat index an angle is one constant step (:func:`flat_steps`), so that the
neighbour of every voxel along it is a shifted read of one flat tensor.
"""
from __future__ import annotations

import itertools
import logging
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch

from core.radiomics.engine.region import Binned

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
    force2d = settings.get("force2D", False)
    return generate_angles(shape, distances, settings.get("force2Ddimension", 0) if force2d else None)


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


def level_volume(binned: Binned, width: int, pad: int) -> torch.Tensor:
    """(z + 2w, y + 2w, x + 2w) grey-level indices of a region, padded by ``width`` voxels of ``pad``.

    Inside the region a voxel holds the index (1..G) of its level among the G levels present
    (``binned.gray_levels``), outside it 0. int16 where G allows it, else int32.
    """
    count = binned.gray_levels.numel()
    dtype = torch.int16 if count < torch.iinfo(torch.int16).max else torch.int32
    device = binned.levels.device
    lookup = torch.zeros(binned.ng + 1, dtype=dtype, device=device)
    lookup[binned.gray_levels] = torch.arange(1, count + 1, dtype=dtype, device=device)
    return torch.nn.functional.pad(lookup[binned.levels], (width,) * 6, value=pad)


def flat_steps(angles: np.ndarray, shape: Sequence[int]) -> list[int]:
    """Step in the C-order flat index of a (z, y, x) array of ``shape`` along each angle.

    Positive for PyRadiomics' mono-directional angles (first non-zero component positive)
    when every component is smaller in magnitude than the array's size in its dimension.
    """
    strides = (shape[1] * shape[2], shape[2], 1)
    return [int(np.dot(angle, strides)) for angle in angles]
