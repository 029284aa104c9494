"""Cache-sized blocks for the filters' element-wise arithmetic.

A full CT (15.7 M voxels, 126 MB in float64) is far larger than a CPU's caches, and each
eager torch operation streams its operands through memory once. The filters therefore run
their chains of operations block by block (about ``BLOCK_ELEMENTS`` values each) on the CPU,
and on the whole volume at once on a GPU, where one kernel per operation is what is cheap.
Blocking changes no value: every element goes through the same operations.
"""
from __future__ import annotations

from typing import Iterator

import torch

BLOCK_ELEMENTS = 1 << 17        # 1 MiB of float64: a few operands fit in a core's L2 cache


def spans(length: int, item_elements: int, device: torch.device, minimum: int = 1) -> Iterator[slice]:
    """Consecutive slices of range(length), each of about BLOCK_ELEMENTS // item_elements items
    but at least ``minimum`` (one slice covering everything on a non-CPU device)."""
    step = length if device.type != "cpu" else max(minimum, BLOCK_ELEMENTS // max(1, item_elements))
    for start in range(0, length, step):
        yield slice(start, min(start + step, length))


def blockwise(function, volume: torch.Tensor, out_dtype: torch.dtype = torch.float64) -> torch.Tensor:
    """``function(block)`` over blocks of ``volume`` along its first axis, gathered in a new tensor.

    ``function`` must be element-wise (each output voxel depends on the same input voxel only).
    """
    out = torch.empty(volume.shape, dtype=out_dtype, device=volume.device)
    per_item = volume[0].numel() if volume.shape[0] else 1
    for span in spans(volume.shape[0], per_item, volume.device):
        out[span] = function(volume[span])
    return out
