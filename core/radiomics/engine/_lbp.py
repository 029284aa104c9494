"""2-D local binary patterns as scikit-image's ``local_binary_pattern`` computes them.

scikit-image (0.26, skimage/feature/_texture.pyx) samples P points on a circle of radius R
around each pixel, at row offset round(-R sin(2 pi p / P), 5) and column offset
round(R cos(2 pi p / P), 5), by bilinear interpolation (skimage/_shared/interpolation.pxd,
zero outside the image) in float64, and thresholds each sample against the centre
(``sample - centre >= 0``). 'uniform': the number of ones when the P - 1 transitions between
consecutive samples (not circular) change at most twice, P + 1 otherwise. The interpolation
weights depend on the row and column (``r + dr - floor(r + dr)`` is rounded per position), so
they are computed per row and per column; every product and sum follows scikit-image's.
"""
from __future__ import annotations

import math

import numpy as np
import torch

from core.radiomics.engine._blocks import spans


def _offsets(samples: int, radius: float) -> tuple[np.ndarray, np.ndarray]:
    """scikit-image's sample offsets (rows, columns), each (P,) float64."""
    angles = 2 * np.pi * np.arange(samples, dtype=np.float64) / samples
    return np.round(-radius * np.sin(angles), 5), np.round(radius * np.cos(angles), 5)


def _weights(size: int, offset: float, margin: int, device: torch.device) -> tuple[int, int, torch.Tensor]:
    """Along one image axis of ``size`` positions: the start of the lower and upper neighbour in
    the zero-padded axis (padded by ``margin``), and the fraction ``t`` (size,) float64."""
    position = torch.arange(size, dtype=torch.float64, device=device) + offset
    # floor(r + offset) = r + floor(offset): offsets are multiples of 1e-5, far from an integer
    # by more than the rounding of r + offset (for images under 2^20 pixels a side)
    lower, upper = math.floor(offset), math.ceil(offset)
    return margin + lower, margin + upper, position - torch.floor(position)


def _codes(image: torch.Tensor, samples: int, radius: float, offsets) -> torch.Tensor:
    """Uniform LBP codes (uint8) of each slice of a (n, rows, cols) float64 block."""
    n, rows, cols = image.shape
    margin = math.ceil(radius) + 1
    padded = torch.nn.functional.pad(image, (margin, margin, margin, margin))
    ones = torch.zeros(image.shape, dtype=torch.uint8, device=image.device)
    changes = torch.zeros_like(ones)
    previous = None
    for dr, dc in zip(*offsets):
        r0, r1, tr = _weights(rows, dr, margin, image.device)
        c0, c1, tc = _weights(cols, dc, margin, image.device)
        tr, tc = tr.view(rows, 1), tc.view(1, cols)

        def pixels(r: int, c: int) -> torch.Tensor:
            return padded[:, r:r + rows, c:c + cols]

        top = (1 - tc) * pixels(r0, c0) + tc * pixels(r0, c1)
        bottom = (1 - tc) * pixels(r1, c0) + tc * pixels(r1, c1)
        bit = (1 - tr) * top + tr * bottom >= image          # sample - centre >= 0, for finite values
        ones += bit
        if previous is not None:
            changes += bit != previous
        previous = bit
    return torch.where(changes <= 2, ones, samples + 1)


def local_binary_pattern(slices: torch.Tensor, samples: int, radius: float, method: str) -> torch.Tensor:
    """Uniform LBP of each (rows, cols) slice of a (n, rows, cols) tensor; float64 codes 0..P+1."""
    if method != "uniform":
        raise ValueError(f"lbp2DMethod {method!r} is not implemented in the torch engine (only 'uniform')")
    offsets = [o.tolist() for o in _offsets(samples, radius)]
    out = torch.empty(slices.shape, dtype=torch.float64, device=slices.device)
    for span in spans(slices.shape[0], slices[0].numel(), slices.device):
        out[span] = _codes(slices[span].to(torch.float64), samples, radius, offsets)
    return out
