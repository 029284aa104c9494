"""The image types of PyRadiomics (``radiomics.imageoperations.get<Type>Image``) in torch.

:func:`filtered_images` yields, for an image and PyRadiomics' ``enabledImagetypes``, each
derived image PyRadiomics' extractor would hand its feature classes, in its order, with its
name, the settings PyRadiomics passes along (the extraction's settings updated with the image
type's own) and the numpy dtype of the array the feature classes see:

- Original: the image itself (its own dtype);
- Wavelet: PyWavelets' stationary transform with PyRadiomics' padding (float64, ``_wavelet``);
- LoG: SimpleITK's LaplacianRecursiveGaussianImageFilter, normalised across scale, one image
  per sigma that fits the image (float32). On the CPU the engine calls that SimpleITK filter
  itself, as PyRadiomics does (identical by definition); on a GPU it runs ``_log``, a torch
  port of ITK's arithmetic that is bit-identical to it (tests/radiomics/engine/test_filters.py
  runs it on the CPU too). The reason, measured on a 60 x 512 x 512 CT on a 2-core CPU with
  one thread: the port's recursion is one small tensor operation per position and line
  block, 27-33 s for the five sigmas, against about half that in ITK's C++ loop;
- Square, SquareRoot, Logarithm, Exponential: numpy's float64 arithmetic of PyRadiomics,
  rescaled by the image's largest absolute value;
- Gradient: SimpleITK's GradientMagnitudeImageFilter (central differences, edge voxels
  repeated, divided by the spacing when ``gradientUseSpacing``; float32);
- LBP2D: scikit-image's local_binary_pattern slice by slice along ``force2Ddimension``
  (codes stored in the image's own dtype, ``_lbp``).

Every value equals PyRadiomics' bit for bit, except Logarithm and Exponential of images of a
floating-point dtype: there torch's log / exp replace numpy's (a few ulp apart; integer
images, such as CT in HU, go through a table built by numpy and stay exact). Images are
made lazily, one at a time, on the input's device.
"""
from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any, Callable, Iterator, Mapping

import numpy as np
import SimpleITK as sitk
import torch

from core.radiomics.engine._blocks import blockwise, spans
from core.radiomics.engine._lbp import local_binary_pattern
from core.radiomics.engine._log import laplacian_of_gaussian
from core.radiomics.engine._wavelet import wavelet_images

logger = logging.getLogger(__name__)

_TABLE_LIMIT = 1 << 20      # integer images spanning at most this many values use a numpy table


@dataclass(frozen=True)
class FilteredImage:
    """One image PyRadiomics computes features on.

    name: PyRadiomics' image-type name ('original', 'wavelet-LLH', 'log-sigma-1-0-mm-3D', ...);
    image: (z, y, x) float64 on the input's device, the whole image grid; settings: the
    settings PyRadiomics passes to the feature classes for it; dtype: the numpy dtype of the
    array PyRadiomics' feature classes hold for it.
    """

    name: str
    image: torch.Tensor
    settings: dict
    dtype: np.dtype


_Generator = Callable[[torch.Tensor, tuple[float, float, float], Mapping[str, Any], np.dtype],
                      Iterator[tuple[str, torch.Tensor, np.dtype]]]


def _original(image, spacing, settings, dtype):
    yield "original", image.to(torch.float64), dtype


def _wavelet(image, spacing, settings, dtype):
    axes = [2, 1, 0]
    if settings.get("force2D", False):
        axes.remove(settings.get("force2Ddimension", 0))
    wavelet = settings.get("wavelet", "coif1")
    for name, band in wavelet_images(image, getattr(wavelet, "name", wavelet), settings.get("level", 1),
                                     settings.get("start_level", 0), tuple(axes)):
        yield name, band, np.dtype(np.float64)


def _log(image, spacing, settings, dtype):
    size = np.array(image.shape[::-1])      # (x, y, z) as SimpleITK's GetSize
    if size.min() < 4:
        logger.warning("Image too small to apply LoG filter, size: %s", size)
        return
    for sigma in settings.get("sigma", []):
        if sigma <= 0.0:
            logger.warning("applyLoG: sigma must be greater than 0.0: %g", sigma)
        elif not np.all(size >= np.ceil(sigma / np.array(spacing)) + 1):
            logger.warning("applyLoG: sigma(%g)/spacing(%s) + 1 must be greater than the size(%s) of the inputImage",
                           sigma, spacing, size)
        else:
            name = "log-sigma-%s-mm-3D" % str(sigma).replace(".", "-")
            result = _simpleitk_log(image, spacing, float(sigma)) if image.device.type == "cpu" \
                else laplacian_of_gaussian(image, spacing, float(sigma))
            yield name, result.to(torch.float64), np.dtype(np.float32)


def _simpleitk_log(image: torch.Tensor, spacing: tuple[float, float, float], sigma: float) -> torch.Tensor:
    """SimpleITK's own LaplacianRecursiveGaussianImageFilter (as PyRadiomics calls it) of a CPU tensor; float32."""
    volume = sitk.GetImageFromArray(image.numpy())
    volume.SetSpacing(spacing)
    log = sitk.LaplacianRecursiveGaussianImageFilter()
    log.SetNormalizeAcrossScale(True)
    log.SetSigma(sigma)
    return torch.from_numpy(sitk.GetArrayFromImage(log.Execute(volume)))


def _two_product_error(u: torch.Tensor, v: torch.Tensor, product: torch.Tensor) -> torch.Tensor:
    """u * v - product, exactly, for product = fl(u * v) (Dekker's splitting, no fused multiply-add)."""
    def split(x):
        c = x * 134217729.0
        high = c - (c - x)
        return high, x - high
    uh, ul = split(u)
    vh, vl = split(v)
    return ((uh * vh - product) + uh * vl + ul * vh) + ul * vl


def correctly_rounded_sqrt(a: torch.Tensor) -> torch.Tensor:
    """IEEE square root of float64 ``a`` (torch's CPU sqrt may be 1 ulp off; numpy's and ITK's are exact).

    y = torch.sqrt(a) is within an ulp; the neighbour c of y replaces it where a lies beyond
    y * c (Tuckerman's test, the product's sign taken exactly).
    """
    y = torch.sqrt(a)
    below = torch.nextafter(y, torch.zeros_like(y))
    above = torch.nextafter(y, torch.full_like(y, math.inf))

    def excess(c):                           # the sign of a - y * c, exactly
        product = y * c
        return (a - product) - _two_product_error(y, c, product)

    return torch.where(excess(above) > 0, above, torch.where(excess(below) <= 0, below, y))


def _float32_sqrt(a: torch.Tensor) -> torch.Tensor:
    """float32 of the IEEE square root of float64 ``a``: torch.sqrt, checked where an ulp of
    error could change the float32 rounding (rare) and recomputed exactly there."""
    y = torch.sqrt(a)
    result = y.to(torch.float32)
    unsure = ((torch.nextafter(y, torch.zeros_like(y)).to(torch.float32) != result)
              | (torch.nextafter(y, torch.full_like(y, math.inf)).to(torch.float32) != result))
    if bool(unsure.any()):
        result[unsure] = correctly_rounded_sqrt(a[unsure]).to(torch.float32)
    return result


_TORCH_MATH = SimpleNamespace(log=torch.log, exp=torch.exp, sqrt=correctly_rounded_sqrt, where=torch.where)


def _transcendental(image: torch.Tensor, dtype: np.dtype, function) -> torch.Tensor:
    """``function(x, xp)`` of the image's values in float64, xp numpy or torch's (log, exp, sqrt).

    For an integer dtype it is evaluated by numpy on each integer of the image's range, as
    PyRadiomics evaluates it, and looked up (bit-identical); otherwise by torch (sqrt exact,
    log and exp within a few ulp of numpy's).
    """
    if dtype.kind in "iub":
        low, high = (int(v) for v in torch.aminmax(image))
        if high - low < _TABLE_LIMIT:
            table = torch.as_tensor(function(np.arange(low, high + 1, dtype=np.float64), np), device=image.device)
            return blockwise(lambda block: table[block.to(torch.int64) - low], image)
    return blockwise(lambda block: function(block.to(torch.float64), _TORCH_MATH), image)


def _signed(values, magnitude, xp):
    """magnitude where values > 0, -magnitude where values < 0, values (zero) elsewhere."""
    return xp.where(values > 0, magnitude, xp.where(values < 0, -magnitude, values))


def _peak(values: torch.Tensor) -> np.float64:
    """max |values| as PyRadiomics' numpy.max(numpy.abs(im)) of the float64 array."""
    low, high = torch.aminmax(values)
    return np.float64(max(-float(low), float(high)))


def _square(image, spacing, settings, dtype):
    with np.errstate(divide="ignore"):
        coefficient = float(1 / np.sqrt(_peak(image)))

    def square(block):
        scaled = block.to(torch.float64) * coefficient
        return scaled * scaled
    yield "square", blockwise(square, image), np.dtype(np.float64)


def _square_root(image, spacing, settings, dtype):
    peak = float(_peak(image))
    root = _transcendental(image, dtype, lambda x, xp: _signed(x, xp.sqrt(abs(x) * peak), xp))
    yield "squareroot", root, np.dtype(np.float64)


def _logarithm(image, spacing, settings, dtype):
    peak = _peak(image)
    result = _transcendental(image, dtype, lambda x, xp: _signed(x, xp.log(abs(x) + 1), xp))
    with np.errstate(divide="ignore", invalid="ignore"):
        scale = float(peak / _peak(result))
    yield "logarithm", result.mul_(scale), np.dtype(np.float64)


def _exponential(image, spacing, settings, dtype):
    peak = _peak(image)
    with np.errstate(divide="ignore", invalid="ignore"):
        coefficient = float(np.log(peak) / peak)
    yield "exponential", _transcendental(image, dtype, lambda x, xp: xp.exp(coefficient * x)), np.dtype(np.float64)


def _neighbours(values: torch.Tensor, axis: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(v[i-1], v[i+1]) along ``axis``, the edge voxels repeated (ITK's ZeroFluxNeumann condition)."""
    n = values.shape[axis]
    before = torch.cat([values.narrow(axis, 0, 1), values.narrow(axis, 0, n - 1)], dim=axis)
    after = torch.cat([values.narrow(axis, 1, n - 1), values.narrow(axis, n - 1, 1)], dim=axis)
    return before, after


def _gradient(image, spacing, settings, dtype):
    """ITK's GradientMagnitudeImageFilter: sqrt(((gx^2 + gy^2) + gz^2)), g = c v[i-1] + (-c) v[i+1]
    with c = 0.5 / spacing (0.5 without gradientUseSpacing), edge voxels repeated; double, then float32."""
    use_spacing = settings.get("gradientUseSpacing", True)
    c = [0.5 * (1.0 / s) if use_spacing else 0.5 for s in spacing]     # ITK's x, y, z
    depth = image.shape[0]
    out = torch.empty(image.shape, dtype=torch.float64, device=image.device)
    for span in spans(depth, image[0].numel(), image.device):
        index = torch.arange(span.start, span.stop, device=image.device)
        values = image[span].to(torch.float64)
        slices = [image.index_select(0, (index + step).clamp(0, depth - 1)).to(torch.float64) for step in (-1, 1)]
        total = None
        for dim, (before, after) in enumerate((_neighbours(values, 2), _neighbours(values, 1), slices)):
            g = before * c[dim] + after * -c[dim]
            total = g * g if total is None else total.add_(g * g)
        out[span] = _float32_sqrt(total)
    yield "gradient", out, np.dtype(np.float32)


def _lbp2d(image, spacing, settings, dtype):
    if not settings.get("force2D", False):
        logger.warning("Calculating Local Binary Pattern in 2D, but extracting features in 3D. Use with caution!")
    axis = settings.get("force2Ddimension", 0)
    codes = local_binary_pattern(image.transpose(0, axis), settings.get("lbp2DSamples", 8),
                                 settings.get("lbp2DRadius", 1), settings.get("lbp2DMethod", "uniform"))
    yield "lbp-2D", codes.transpose(0, axis).contiguous(), dtype   # codes 0..P+1, exact in any dtype


IMAGE_TYPES: dict[str, _Generator] = {
    "Original": _original,
    "Wavelet": _wavelet,
    "LoG": _log,
    "Square": _square,
    "SquareRoot": _square_root,
    "Logarithm": _logarithm,
    "Exponential": _exponential,
    "Gradient": _gradient,
    "LBP2D": _lbp2d,
}


def filtered_images(image: torch.Tensor, spacing: tuple[float, float, float], image_types: Mapping[str, Mapping],
                    settings: Mapping, dtype: np.dtype, mask: torch.Tensor | None = None) -> Iterator[FilteredImage]:
    """PyRadiomics' filtered images of ``image``, one at a time, in its order.

    image: (z, y, x) values of the original pixel type (any real tensor dtype) on any device;
    spacing: (x, y, z) mm; image_types: PyRadiomics' ``enabledImagetypes`` (e.g. {'Original': {},
    'LoG': {'sigma': [1.0, 2.0]}}); settings: its effective settings; dtype: the numpy dtype of
    the original image. ``mask`` is accepted as PyRadiomics' filters accept it; none reads it.
    ValueError for an image type the engine does not implement.
    """
    if image.dim() != 3:
        raise ValueError(f"image must be (z, y, x), got shape {tuple(image.shape)}")
    unknown = [name for name in image_types if name not in IMAGE_TYPES]
    if unknown:
        raise ValueError(f"image types {unknown} are not implemented in the torch engine "
                         f"(available: {', '.join(IMAGE_TYPES)})")
    dtype = np.dtype(dtype)
    spacing = tuple(float(s) for s in spacing)
    for image_type, custom in image_types.items():
        arguments = dict(settings)
        arguments.update(custom or {})
        for name, result, result_dtype in IMAGE_TYPES[image_type](image, spacing, arguments, dtype):
            yield FilteredImage(name, result, arguments, result_dtype)
