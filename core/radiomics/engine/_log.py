"""Laplacian of Gaussian as SimpleITK's ``LaplacianRecursiveGaussianImageFilter`` computes it.

ITK (5.4, Modules/Filtering/ImageFeature/itkLaplacianRecursiveGaussianImageFilter.hxx) sums,
for each axis d, the second-derivative recursive Gaussian along d followed by zero-order
recursive Gaussians along the other two axes (ascending), scaled by 1 / spacing_d^2. Each
1-D pass is Deriche's fourth-order IIR filter (itkRecursiveSeparableImageFilter.hxx,
coefficients from itkRecursiveGaussianImageFilter.hxx): a causal and an anti-causal
recursion with edge-extension boundary terms, computed in double and stored as float32
between passes; the cumulated image is float32 too. The operations below repeat ITK's, in
its order and precision, so the result is bit-identical to SimpleITK's.

The recursion runs over the positions along the axis, each step a tensor operation over the
lines (the causal and anti-causal recursions of many lines at once); the input terms and the
output are computed block by block (see ``_blocks``).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Iterator

import torch

from core.radiomics.engine._blocks import spans

# Deriche's exponential-series parameters as ITK gives them (A1/B1/A2/B2 per order 0, 1, 2).
_W1, _L1, _W2, _L2 = 0.6681, -1.3932, 2.0787, -1.3732
_A1 = (1.3530, -0.6724, -1.3563)
_B1 = (1.8151, -3.4327, 5.2318)
_A2 = (-0.3531, 0.6724, 0.3446)
_B2 = (0.0902, 0.6100, -2.2355)


@dataclass(frozen=True)
class _Coefficients:
    """One recursive Gaussian pass: causal n (N0..N3), anti-causal m (M1..M4), recursive d
    (D1..D4), boundary bn (BN1..BN4) and bm (BM1..BM4), as ITK's double members."""

    n: tuple[float, float, float, float]
    m: tuple[float, float, float, float]
    d: tuple[float, float, float, float]
    bn: tuple[float, float, float, float]
    bm: tuple[float, float, float, float]


def _d_coefficients(sigmad: float) -> tuple[tuple[float, float, float, float], float, float, float]:
    """ITK's ComputeDCoefficients: (D1..D4), SD, DD, ED."""
    cos1, cos2 = math.cos(_W1 / sigmad), math.cos(_W2 / sigmad)
    exp1, exp2 = math.exp(_L1 / sigmad), math.exp(_L2 / sigmad)
    d4 = exp1 * exp1 * exp2 * exp2
    d3 = -2 * cos1 * exp1 * exp2 * exp2
    d3 += -2 * cos2 * exp2 * exp1 * exp1
    d2 = 4 * cos2 * cos1 * exp1 * exp2
    d2 += exp1 * exp1 + exp2 * exp2
    d1 = -2 * (exp2 * cos2 + exp1 * cos1)
    sd = 1.0 + d1 + d2 + d3 + d4
    dd = d1 + 2 * d2 + 3 * d3 + 4 * d4
    ed = d1 + 4 * d2 + 9 * d3 + 16 * d4
    return (d1, d2, d3, d4), sd, dd, ed


def _n_coefficients(sigmad: float, order: int) -> tuple[list[float], float, float, float]:
    """ITK's ComputeNCoefficients for the series of one order: [N0..N3], SN, DN, EN."""
    a1, b1, a2, b2 = _A1[order], _B1[order], _A2[order], _B2[order]
    sin1, sin2 = math.sin(_W1 / sigmad), math.sin(_W2 / sigmad)
    cos1, cos2 = math.cos(_W1 / sigmad), math.cos(_W2 / sigmad)
    exp1, exp2 = math.exp(_L1 / sigmad), math.exp(_L2 / sigmad)
    n0 = a1 + a2
    n1 = exp2 * (b2 * sin2 - (a2 + 2 * a1) * cos2)
    n1 += exp1 * (b1 * sin1 - (a1 + 2 * a2) * cos1)
    n2 = (a1 + a2) * cos2 * cos1
    n2 -= b1 * cos2 * sin1 + b2 * cos1 * sin2
    n2 *= 2 * exp1 * exp2
    n2 += a2 * exp1 * exp1 + a1 * exp2 * exp2
    n3 = exp2 * exp1 * exp1 * (b2 * sin2 - a2 * cos2)
    n3 += exp1 * exp2 * exp2 * (b1 * sin1 - a1 * cos1)
    sn = n0 + n1 + n2 + n3
    dn = n1 + 2 * n2 + 3 * n3
    en = n1 + 4 * n2 + 9 * n3
    return [n0, n1, n2, n3], sn, dn, en


def gaussian_coefficients(sigma: float, spacing: float, second_order: bool, normalize: bool) -> _Coefficients:
    """ITK's RecursiveGaussianImageFilter::SetUp for a zero- or second-order pass (sigma, spacing in mm)."""
    sigmad = sigma / spacing
    d, sd, dd, ed = _d_coefficients(sigmad)
    if second_order:
        scale = sigma * sigma if normalize else 1.0
        n_0, sn0, dn0, en0 = _n_coefficients(sigmad, 0)
        n_2, sn2, dn2, en2 = _n_coefficients(sigmad, 2)
        beta = -(2 * sn2 - sd * n_2[0]) / (2 * sn0 - sd * n_0[0])
        n = [x2 + beta * x0 for x2, x0 in zip(n_2, n_0)]
        sn = sn2 + beta * sn0
        dn = dn2 + beta * dn0
        en = en2 + beta * en0
        alpha = en * sd * sd - ed * sn * sd - 2 * dn * dd * sd + 2 * dd * dd * sn
        alpha /= sd * sd * sd
    else:                                     # ITK applies no scale normalisation to order 0
        scale = 1.0
        n, sn, _, _ = _n_coefficients(sigmad, 0)
        alpha = 2 * sn / sd - n[0]
    n = [x * (scale / alpha) for x in n]
    m = (n[1] - d[0] * n[0], n[2] - d[1] * n[0], n[3] - d[2] * n[0], -d[3] * n[0])   # symmetric kernels
    sum_n = n[0] + n[1] + n[2] + n[3]
    sum_m = m[0] + m[1] + m[2] + m[3]
    sum_d = 1.0 + d[0] + d[1] + d[2] + d[3]
    return _Coefficients(tuple(n), m, d, tuple(x * sum_n / sum_d for x in d), tuple(x * sum_m / sum_d for x in d))


def _sum4(a: torch.Tensor, b: torch.Tensor, c: torch.Tensor, d: torch.Tensor) -> torch.Tensor:
    """((a + b) + c) + d, in C's order."""
    return (a + b).add_(c).add_(d)


def _recurse(rec: torch.Tensor, boundary: torch.Tensor, d: tuple[float, float, float, float]) -> None:
    """ITK's recursions, in place: rec (L, 2, lines) holds the input terms of the causal ([:, 0])
    and the reversed anti-causal ([:, 1]) recursion; boundary (4, 2, lines) the boundary terms."""
    length, _, lines = rec.shape
    d_reversed = torch.tensor(d[::-1], dtype=torch.float64, device=rec.device).view(4, 1, 1)
    for span in spans(lines, 8, rec.device):   # rows of a few 10^4 values: cache-resident steps
        r, b = rec[:, :, span], boundary[:, :, span]
        for i in range(min(4, length)):
            r[i].sub_(_sum4(*(r[i - 1 - k] * d[k] if i - 1 - k >= 0 else b[k] for k in range(4))))
        products = torch.empty((4, *r.shape[1:]), dtype=torch.float64, device=rec.device)
        acc = torch.empty(r.shape[1:], dtype=torch.float64, device=rec.device)
        for i in range(4, length):             # rows i-4..i-1 meet D4..D1
            torch.mul(r[i - 4:i], d_reversed, out=products)
            torch.add(products[3], products[2], out=acc)
            r[i].sub_(acc.add_(products[1]).add_(products[0]))


def _fir(ext: torch.Tensor, taps: torch.Tensor, out: torch.Tensor) -> None:
    """out[t] = ((ext[t+3] taps[0] + ext[t+2] taps[1]) + ext[t+1] taps[2]) + ext[t] taps[3]
    (ext (n+3, 2, lines), taps (4, 2, 1): the causal and anti-causal input coefficients)."""
    torch.mul(ext[3:], taps[0], out=out)
    out.add_(ext[2:-1] * taps[1]).add_(ext[1:-2] * taps[2]).add_(ext[:-3] * taps[3])


def _blocks2d(length: int, outer: int, inner: int, device: torch.device) -> Iterator[tuple[slice, slice]]:
    """(positions, outer lines) blocks of a (length, outer, inner) array: at least 8 positions
    each (the input terms read 3 more), about BLOCK_ELEMENTS values in all."""
    steps = min(length, 8)
    for positions in spans(length, 2 * outer * inner, device, minimum=steps):
        n = positions.stop - positions.start
        for lines in spans(outer, 2 * n * inner, device):
            yield positions, lines


def recursive_gaussian(volume: torch.Tensor, axis: int, coefficients: _Coefficients) -> torch.Tensor:
    """One ITK recursive Gaussian pass along ``axis`` of a (z, y, x) tensor; (z, y, x) float32 result.

    Lines are filtered in double as ITK's FilterDataArray does (the input converted exactly):
    the causal recursion sees the line extended by its first value, the anti-causal one by its
    last. rec[i, 0] is the causal value at position i, rec[i, 1] the anti-causal one at L-1-i.
    """
    c = coefficients
    device = volume.device
    if axis == volume.dim() - 1:                         # x: transpose once (a blocked 2-D copy)
        z, y, x = volume.shape
        source = volume.reshape(-1, x).t().contiguous().view(x, z, y)
    else:
        source = volume.movedim(axis, 0)
    length, outer, inner = source.shape
    lines = outer * inner

    def rows(index: torch.Tensor, block: slice) -> torch.Tensor:   # rows at positions clamped to the line
        part = source[:, block].index_select(0, index.flatten().clamp(0, length - 1))
        return part.reshape(*index.shape, -1).to(torch.float64)

    taps = torch.tensor([c.n, c.m], dtype=torch.float64, device=device).t().reshape(4, 2, 1)
    rec = torch.empty((length, 2, lines), dtype=torch.float64, device=device)
    for positions, block in _blocks2d(length, outer, inner, device):
        offsets = torch.arange(positions.stop - positions.start + 3, device=device)
        # causal terms read positions i-3..i, anti-causal ones (reversed) L-1-i+1..L-1-i+4
        index = torch.stack([positions.start - 3 + offsets, length - positions.start + 3 - offsets], dim=1)
        _fir(rows(index, block), taps, rec[positions, :, block.start * inner:block.stop * inner])
    ends = rows(torch.tensor([0, length - 1], device=device), slice(None))
    boundary = torch.stack([torch.stack([ends[0] * bn, ends[1] * bm]) for bn, bm in zip(c.bn, c.bm)])
    _recurse(rec, boundary, c.d)
    del boundary
    target = torch.empty(source.shape, dtype=torch.float32, device=device)
    for positions, block in _blocks2d(length, outer, inner, device):
        cols = slice(block.start * inner, block.stop * inner)
        reverse = slice(length - positions.stop, length - positions.start)
        # ITK: outs[i] += scratch2[i] in double, stored as float32
        torch.add(rec[positions, 0, cols], rec[reverse, 1, cols].flip(0),
                  out=target[positions, block].view(-1, cols.stop - cols.start))
    if axis == volume.dim() - 1:
        return target.view(length, -1).t().contiguous().view(volume.shape)
    return target.movedim(0, axis).contiguous()


def laplacian_of_gaussian(image: torch.Tensor, spacing: tuple[float, float, float], sigma: float) -> torch.Tensor:
    """(z, y, x) float32 LoG of ``image`` with ``sigma`` mm, normalised across scale (as SimpleITK).

    spacing: (x, y, z) mm. Every axis must hold at least 4 voxels.
    """
    total = torch.zeros(image.shape, dtype=torch.float32, device=image.device)
    for dim in range(3):                       # ITK's order: x, y, z; array axis 2 - dim
        result = recursive_gaussian(image, 2 - dim, gaussian_coefficients(sigma, spacing[dim], True, True))
        for other in (j for j in range(3) if j != dim):
            result = recursive_gaussian(result, 2 - other,
                                        gaussian_coefficients(sigma, spacing[other], False, True))
        scale = 1.0 / (spacing[dim] * spacing[dim])
        for span in spans(image.shape[0], image[0].numel(), image.device):
            total[span] = (total[span].to(torch.float64) + result[span].to(torch.float64) * scale).to(torch.float32)
    return total
