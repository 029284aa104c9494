"""Stationary wavelet sub-bands as PyRadiomics' ``getWaveletImage`` computes them with PyWavelets.

PyRadiomics (``imageoperations._swt3``) pads every odd-sized axis by one voxel ('wrap': the
first slice appended), runs ``pywt.swtn(data, wavelet, level=1, start_level=0, axes)`` once
per level on the previous approximation (so the filter is never dilated), and crops the
padding off each sub-band. ``swtn`` filters axis by axis in the order of ``axes`` (x, y, z),
each a periodic convolution (pywt's ``downsampling_convolution_periodization`` with step 1):
``out[o] = sum_j filter[j] * in[(o + F/2 - j) mod N]`` in float64, its terms added in the
order of pywt's C loops (j = 0..F-1, except where the window wraps past the end). The same
products and sums, in that order, make the result bit-identical.
"""
from __future__ import annotations

from typing import Iterator

import torch

from core.radiomics.engine._blocks import spans

# pywt.Wavelet(name).dec_lo and .dec_hi (float64, exactly as PyWavelets builds them).
_FILTER_BANKS = {
    "coif1": (
        (-0.015655728135791993, -0.07273261951252645, 0.3848648468648578,
         0.8525720202116004, 0.3378976624574818, -0.07273261951252645),
        (0.07273261951252645, 0.3378976624574818, -0.8525720202116004,
         0.3848648468648578, 0.07273261951252645, -0.015655728135791993),
    ),
    "haar": ((0.7071067811865476, 0.7071067811865476), (-0.7071067811865476, 0.7071067811865476)),
}


def filter_bank(name: str) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """(dec_lo, dec_hi) of a wavelet the engine knows; ValueError naming the others."""
    try:
        return _FILTER_BANKS[name]
    except KeyError:
        raise ValueError(f"wavelet {name!r} is not implemented in the torch engine "
                         f"(available: {', '.join(sorted(_FILTER_BANKS))})") from None


def _summation_order(n: int, f: int) -> list[list[tuple[int, int]]]:
    """For each output of pywt's periodised convolution (step 1, length n, f taps), its
    (filter index, input index) terms in the order the C loops add them."""
    orders = []
    for i in range(f // 2, n + f // 2):          # output o = i - f // 2
        terms, j = [], 0
        while i - j >= n:                         # wrapped past the end: input 0, 1, ... first
            k = 0
            while k < n and i - j >= n:
                terms.append((i - n - j, k))
                k, j = k + 1, j + 1
        while j <= i and j < f:
            terms.append((j, i - j))
            j += 1
        while j < f:                              # wrapped before the start: input n - 1, n - 2, ...
            k = 0
            while k < n and j < f:
                terms.append((j, n - 1 - k))
                k, j = k + 1, j + 1
        orders.append(terms)
    return orders


def _periodic_convolution(data: torch.Tensor, taps: tuple[float, ...], axis: int) -> torch.Tensor:
    """pywt's periodised convolution of step 1 along ``axis`` (even length n), float64.

    Most outputs add ``taps[j] * in[(o + f/2 - j) mod n]`` for j = 0..f-1 in turn (computed for
    the whole axis at once); the few whose C loop adds the terms in another order (near the
    end, where the window wraps) are recomputed one slice at a time in that order. Runs block
    by block along another axis (see ``_blocks``).
    """
    n, f = data.shape[axis], len(taps)
    half = f // 2
    # extended[k] = data[(k - (f - 1 - half)) mod n], so that in[(o + half - j) mod n] = extended[o + f - 1 - j]
    index = (torch.arange(f - 1 + n, device=data.device) - (f - 1 - half)) % n
    reordered = [(o, terms) for o, terms in enumerate(_summation_order(n, f))
                 if terms != [(j, (o + half - j) % n) for j in range(f)]]
    block_axis = 1 if axis == 0 else 0
    out = torch.empty(data.shape, dtype=torch.float64, device=data.device)
    for span in spans(data.shape[block_axis], data.numel() // data.shape[block_axis], data.device):
        block = data.narrow(block_axis, span.start, span.stop - span.start)
        extended = block.index_select(axis, index)
        result = out.narrow(block_axis, span.start, span.stop - span.start)
        torch.mul(extended.narrow(axis, f - 1, n), taps[0], out=result)
        for j in range(1, f):
            result.add_(extended.narrow(axis, f - 1 - j, n) * taps[j])
        for o, terms in reordered:
            value = block.select(axis, terms[0][1]) * taps[terms[0][0]]
            for tap, source in terms[1:]:
                value.add_(block.select(axis, source) * taps[tap])
            result.select(axis, o).copy_(value)
    return out


def wavelet_images(image: torch.Tensor, wavelet: str, level: int, start_level: int,
                   axes: tuple[int, ...]) -> Iterator[tuple[str, torch.Tensor]]:
    """PyRadiomics' wavelet images of a (z, y, x) tensor: (name, float64 tensor), in its order.

    axes: array axes filtered, in pywt's order (PyRadiomics: (2, 1, 0), less the force2D one).
    Names: 'wavelet-LLH' ... for the first level, 'wavelet2-LLH' ... after, then the last
    approximation ('wavelet-LLL' when one level). Sub-bands are made depth first, so only a
    few volumes are alive at a time.
    """
    low, high = filter_bank(wavelet)
    shape = image.shape
    padded = [axis for axis in range(image.dim()) if shape[axis] % 2]
    data = image.to(torch.float64)
    for axis in padded:                      # numpy.pad(..., (0, 1), 'wrap')
        data = torch.cat([data, data.narrow(axis, 0, 1)], dim=axis)
    crop = tuple(slice(0, s) for s in shape)
    approximation_key = "a" * len(axes)

    def subbands(volume: torch.Tensor, depth: int = 0, key: str = "") -> Iterator[tuple[str, torch.Tensor]]:
        if depth == len(axes):
            yield key, volume
            return
        for letter, taps in (("a", low), ("d", high)):
            yield from subbands(_periodic_convolution(volume, taps, axes[depth]), depth + 1, key + letter)

    for _ in range(start_level):
        data = next(subbands(data))[1]
    for index in range(1, level + 1):
        prefix = "wavelet" if index == 1 else f"wavelet{index}"
        approximation = None
        for key, band in subbands(data):
            if key == approximation_key:
                approximation = band
                continue
            name = key.replace("a", "L").replace("d", "H")
            yield f"{prefix}-{name}", band[crop]
            del band
        data = approximation
    prefix = "wavelet" if level == 1 else f"wavelet{level}"
    yield f"{prefix}-{'L' * len(axes)}", data[crop]
