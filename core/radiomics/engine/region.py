"""One region of one (original or filtered) image as the engine's feature classes see it.

A :class:`Region` holds the image cropped to the bounding box of the region's mask, as
PyRadiomics' ``cropToTumorMask`` does (no padding), the boolean mask on the same grid, the
voxel spacing and the settings PyRadiomics would pass to its feature classes for this image
type. Tensors stay on the device they were made on (CPU or CUDA); values are float64.

Grey levels are discretised once per region (:attr:`Region.binned`) exactly as
``radiomics.imageoperations.getBinEdges`` / ``binImage``: with a fixed bin width the edges
are multiples of ``binWidth`` counted from 0 (the first edge at or below the minimum), with
``binCount`` numpy's histogram edges; a voxel's level is ``numpy.digitize`` of its value
(levels 1..N inside the region, 0 outside). The few edge values are computed with numpy on
the host from the region's minimum and maximum, in the dtype of the array PyRadiomics
would hold, so they are bit-identical to PyRadiomics'; only the comparison runs on the device.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Callable, Mapping, TypeVar

import numpy as np
import torch


T = TypeVar("T")


@dataclass(frozen=True)
class Binned:
    """Discretised grey levels of a region.

    levels: (z, y, x) int64, 1..n_bins inside the mask, 0 outside; edges: (n_bins + 1,)
    numpy bin edges; gray_levels: (G,) int64 sorted levels present in the region;
    ng: the largest level present (PyRadiomics' coefficient ``Ng``); indices: (N,) int16
    (int32 beyond 32,767 levels), the index (0..G-1) in ``gray_levels`` of each region
    voxel's level, voxels in C order.
    """

    levels: torch.Tensor
    edges: np.ndarray
    gray_levels: torch.Tensor
    ng: int
    indices: torch.Tensor


@dataclass(eq=False)
class Region:
    """A region of one image: cropped image and mask, spacing, settings (see module docstring).

    image: (z, y, x) float64; mask: (z, y, x) bool, same shape and device; spacing: (x, y, z)
    in mm (SimpleITK's order); settings: PyRadiomics' settings for this image type
    (``binWidth``, ``binCount``, ``voxelArrayShift``, ``distances``, ``symmetricalGLCM``,
    ``gldm_a``, ``force2D``, ...); dtype: the numpy dtype of the array PyRadiomics computes
    on for this image (it decides the arithmetic of the bin edges); shared: what depends on
    the mask alone (:meth:`cached`): one dict for every image of one region, so that it is
    computed once per region and case.
    """

    image: torch.Tensor
    mask: torch.Tensor
    spacing: tuple[float, float, float]
    settings: Mapping[str, Any] = field(default_factory=dict)
    dtype: np.dtype = np.dtype("float64")
    shared: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.image.shape != self.mask.shape:
            raise ValueError(f"image {tuple(self.image.shape)} and mask {tuple(self.mask.shape)} differ in shape")
        if self.mask.dtype != torch.bool:
            raise ValueError(f"mask must be a bool tensor, got {self.mask.dtype}")

    @property
    def device(self) -> torch.device:
        return self.image.device

    def cached(self, key: Any, compute: Callable[[], T]) -> T:
        """``compute()``, once per ``key`` in :attr:`shared` (so for every image of the region);
        ``key`` names everything besides the mask that the result depends on."""
        if key not in self.shared:
            self.shared[key] = compute()
        return self.shared[key]

    @property
    def voxels(self) -> torch.Tensor:
        """(N,) int64 flat indices (C order of (z, y, x)) of the region's voxels, ascending."""
        return self.cached("voxels", lambda: torch.nonzero(self.mask.flatten()).flatten())

    @cached_property
    def values(self) -> torch.Tensor:
        """(N,) float64 values of the region's voxels, in C order of (z, y, x)."""
        return self.image.flatten().index_select(0, self.voxels).to(torch.float64)

    @cached_property
    def binned(self) -> Binned:
        """Grey levels discretised as PyRadiomics' ``binImage`` (computed once per region)."""
        values = self.values
        if values.numel() == 0:
            raise ValueError("the region is empty")
        low, high = torch.aminmax(values)
        edges = bin_edges(low.item(), high.item(), self.settings, self.dtype)
        boundaries = torch.as_tensor(edges, dtype=torch.float64, device=self.device)
        inside = torch.bucketize(values, boundaries, right=True)             # numpy.digitize
        levels = torch.zeros(self.image.numel(), dtype=torch.int64, device=self.device)
        levels.index_copy_(0, self.voxels, inside)
        counts = torch.bincount(inside, minlength=len(edges) + 1)
        present = torch.nonzero(counts).flatten()
        index_dtype = torch.int16 if len(present) <= torch.iinfo(torch.int16).max else torch.int32
        lookup = torch.zeros(len(counts), dtype=index_dtype, device=self.device)
        lookup[present] = torch.arange(len(present), dtype=index_dtype, device=self.device)
        return Binned(levels.view(self.image.shape), edges, present, int(present[-1]), lookup[inside])


def bin_edges(minimum: float, maximum: float, settings: Mapping[str, Any],
              dtype: np.dtype = np.dtype("float64")) -> np.ndarray:
    """PyRadiomics' ``getBinEdges`` for a region whose values span [minimum, maximum].

    ``dtype``: the dtype of PyRadiomics' array; its minimum and maximum are numpy scalars of
    that dtype, and the arithmetic below follows theirs (numpy 2 promotion rules).
    """
    dtype = np.dtype(dtype)
    minimum, maximum = dtype.type(minimum), dtype.type(maximum)
    bin_count = settings.get("binCount")
    if bin_count is not None:
        edges = np.histogram(np.array([minimum, maximum], dtype=dtype), bin_count)[1]
        edges[-1] += 1
        return edges
    width = settings.get("binWidth", 25)
    low = minimum - (minimum % width)
    edges = np.arange(low, maximum + 2 * width, width)
    if len(edges) == 1:                      # a flat region: one bin around its value
        edges = np.array([edges[0] - .5, edges[0] + .5])
    return edges


def bounding_box(mask: torch.Tensor) -> tuple[slice, slice, slice]:
    """Slices (z, y, x) of the smallest box holding every True voxel of a (z, y, x) mask."""
    if not bool(mask.any()):
        raise ValueError("the region is empty")
    box = []
    for axis in range(3):
        others = tuple(a for a in range(3) if a != axis)
        present = torch.nonzero(mask.any(dim=others)).flatten()
        box.append(slice(int(present[0]), int(present[-1]) + 1))
    return tuple(box)


def crop(image: torch.Tensor, mask: torch.Tensor, spacing: tuple[float, float, float],
         settings: Mapping[str, Any], dtype: np.dtype = np.dtype("float64")) -> Region:
    """The region of ``mask`` (bool, full image grid) in ``image``, cropped to its bounding box."""
    box = bounding_box(mask)
    return Region(image[box].to(torch.float64), mask[box], spacing, settings, np.dtype(dtype))
