"""The engine's filtered images against PyRadiomics' ``imageoperations.get<Type>Image``, voxel by voxel.

PyRadiomics (with SimpleITK, PyWavelets and scikit-image underneath) is the reference: for
every case of ``cases.py`` and the ``paper`` preset, each image PyRadiomics' generators yield
(``sitk.GetArrayFromImage``) must equal the engine's bit for bit, with the same name, order,
settings and dtype. The one tolerated deviation is listed in ``TOLERATED`` with its reason.
"""
from __future__ import annotations

import logging
import warnings

import numpy as np
import pytest
import SimpleITK as sitk
import torch
from radiomics import imageoperations

import core.radiomics.engine._blocks as blocks
from core.radiomics.engine.filters import correctly_rounded_sqrt, filtered_images
from core.radiomics.engine.region import bin_edges
from core.radiomics.presets import load_preset
from tests.radiomics.engine.cases import CASE_NAMES, load_case

logging.getLogger("radiomics").setLevel(logging.ERROR)
logging.getLogger("core.radiomics.engine.filters").setLevel(logging.ERROR)

_PAPER = load_preset("paper").extractor()
SETTINGS, IMAGE_TYPES = _PAPER.settings, _PAPER.enabledImagetypes

# Image types whose values may differ from PyRadiomics', with the largest relative difference
# measured and the reason. Only images of a floating-point dtype: for integer images (CT in HU)
# the engine evaluates numpy's log / exp itself, through a table, and matches bit for bit.
TOLERATED = {
    # measured on the CT crop x 0.37 + noise: 43 of 153,300 voxels differ, at most 3.8e-16 relative
    "logarithm": (1e-15, "torch's log instead of numpy's (SIMD) log on a float image"),
    # measured there: 6,570 voxels differ, at most 2.2e-16 relative
    "exponential": (1e-15, "torch's exp instead of numpy's (SIMD) exp on a float image"),
}


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    """One torch thread: the values do not depend on it (element-wise arithmetic only), and the
    thousands of small operations of the LoG recursion slow down badly when a busy CPU makes
    torch's threads wait for each other."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _pyradiomics(image: sitk.Image, mask: sitk.Image, image_types, settings) -> list[tuple[str, np.ndarray, dict]]:
    """What PyRadiomics' extractor iterates over: (name, array, kwargs) per derived image."""
    out = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")          # numpy's warnings in PyRadiomics' own arithmetic
        for image_type, custom in image_types.items():
            kwargs = dict(settings)
            kwargs.update(custom)
            for result, name, passed in getattr(imageoperations, f"get{image_type}Image")(image, mask, **kwargs):
                out.append((name, sitk.GetArrayFromImage(result), passed))
    return out


def _engine(image: sitk.Image, image_types, settings):
    array = sitk.GetArrayFromImage(image)
    return list(filtered_images(torch.from_numpy(array), image.GetSpacing(), image_types, settings, array.dtype))


def _differences(reference: np.ndarray, ours: np.ndarray) -> tuple[int, float, float]:
    """(voxels that differ, max absolute and max relative difference), NaN equal to NaN."""
    reference = reference.astype(np.float64)
    differ = ~((reference == ours) | (np.isnan(reference) & np.isnan(ours)))
    if not differ.any():
        return 0, 0.0, 0.0
    absolute = np.abs(reference - ours)[differ]
    relative = absolute / np.maximum(np.abs(reference[differ]), np.finfo(np.float64).tiny)
    return int(differ.sum()), float(np.nanmax(absolute)), float(np.nanmax(relative))


def _compare(image: sitk.Image, mask: sitk.Image, image_types, settings, tolerated=()) -> dict:
    """Names, order, settings and dtypes equal; values bit-identical except ``tolerated`` types
    (within their TOLERATED bound). Returns {name: (differing voxels, max abs, max rel)}."""
    reference = _pyradiomics(image, mask, image_types, settings)
    ours = _engine(image, image_types, settings)
    assert [o.name for o in ours] == [name for name, _, _ in reference]
    table = {}
    for (name, array, passed), result in zip(reference, ours):
        assert result.settings == passed, name
        assert result.dtype == array.dtype, (name, result.dtype, array.dtype)
        assert result.image.dtype == torch.float64 and tuple(result.image.shape) == array.shape, name
        table[name] = _differences(array, result.image.numpy())
    failures = {name: row for name, row in table.items()
                if row[0] and not (name in tolerated and row[2] <= TOLERATED[name][0])}
    assert not failures, f"(differing voxels, max abs, max rel) per image type: {failures}"
    return table


@pytest.mark.parametrize("name", CASE_NAMES)
def test_paper_images_bit_identical(name):
    case = load_case(name)
    _compare(case.image, case.mask, IMAGE_TYPES, SETTINGS)


def _ct_box(shape=(14, 22, 26), spacing=(0.7, 0.8, 2.5)) -> sitk.Image:
    """A box of the real CT crop (int16 HU) on an anisotropic grid."""
    ct = sitk.GetArrayFromImage(load_case("ct_liver").image)
    start = [(s - b) // 2 for s, b in zip(ct.shape, shape)]
    box = ct[tuple(slice(a, a + b) for a, b in zip(start, shape))]
    image = sitk.GetImageFromArray(np.ascontiguousarray(box))
    image.SetSpacing(spacing)
    return image


@pytest.mark.parametrize("image_types, settings", [
    ({"Wavelet": {"level": 2}, "LoG": {"sigma": [1, 2.5, 40.0, 0.0]}}, {}),
    ({"Wavelet": {"start_level": 1, "wavelet": "haar"}}, {"force2D": True, "force2Ddimension": 0}),
    ({"Gradient": {"gradientUseSpacing": False}, "LBP2D": {"lbp2DRadius": 2, "lbp2DSamples": 8}},
     {"force2Ddimension": 1}),
    ({"LBP2D": {}, "SquareRoot": {}, "Logarithm": {}}, {"force2Ddimension": 2, "lbp2DSamples": 9}),
], ids=["wavelet-level2-log-sizes", "wavelet-start-level-2d", "gradient-lbp-axis1", "lbp-axis2"])
def test_other_settings_bit_identical(image_types, settings):
    image = _ct_box()
    _compare(image, image, image_types, settings)


def test_log_skipped_on_a_thin_image():
    image = _ct_box(shape=(3, 22, 26))
    assert _pyradiomics(image, image, {"LoG": {"sigma": [1.0]}}, {}) == []
    assert _engine(image, {"LoG": {"sigma": [1.0]}}, {}) == []


def test_float_image():
    """A float image with many distinct values (the CT x 0.37 plus noise, as a filter output):
    all bit-identical but Logarithm and Exponential (TOLERATED), and none of their liver voxels
    changes bin with binWidth 25."""
    case = load_case("ct_liver")
    ct = sitk.GetArrayFromImage(case.image)
    values = ct * 0.37 + np.random.default_rng(0).normal(0, 1, ct.shape)
    image = sitk.GetImageFromArray(values)
    image.CopyInformation(case.image)
    table = _compare(image, case.mask, IMAGE_TYPES, SETTINGS, tolerated=TOLERATED)
    assert table["exponential"][0] > 0        # the path is really torch's, not numpy's
    liver = sitk.GetArrayFromImage(case.mask) == 1
    reference = dict((n, a) for n, a, _ in _pyradiomics(image, case.mask, {"Logarithm": {}, "Exponential": {}}, {}))
    for result in _engine(image, {"Logarithm": {}, "Exponential": {}}, {}):
        expected, ours = reference[result.name][liver], result.image.numpy()[liver]
        edges = bin_edges(expected.min(), expected.max(), {"binWidth": 25}, result.dtype)
        assert np.array_equal(edges, bin_edges(ours.min(), ours.max(), {"binWidth": 25}, result.dtype))
        assert np.array_equal(np.digitize(expected, edges), np.digitize(ours, edges)), result.name


def test_blocks_change_no_value(monkeypatch):
    """Tiny blocks (many block boundaries on every axis) give PyRadiomics' values all the same."""
    monkeypatch.setattr(blocks, "BLOCK_ELEMENTS", 256)
    image = _ct_box(shape=(9, 12, 14))
    _compare(image, image, IMAGE_TYPES, SETTINGS)


def test_lazy_and_on_the_input_device():
    image = _ct_box()
    array = torch.from_numpy(sitk.GetArrayFromImage(image))
    images = filtered_images(array, image.GetSpacing(), IMAGE_TYPES, SETTINGS, np.int16)
    first = next(images)                       # nothing else computed yet
    assert first.name == "original" and first.image.device == array.device
    assert sum(1 for _ in images) == 19


@pytest.mark.parametrize("image_types, message", [
    ({"LBP3D": {}}, "LBP3D"),
    ({"Wavelet": {"wavelet": "db2"}}, "db2"),
    ({"LBP2D": {"lbp2DMethod": "ror"}}, "ror"),
])
def test_unimplemented_settings_are_named(image_types, message):
    with pytest.raises(ValueError, match=message):
        list(filtered_images(torch.zeros(4, 4, 4), (1.0, 1.0, 1.0), image_types, {}, np.int16))


def test_correctly_rounded_sqrt_equals_numpy():
    """IEEE square roots (numpy's, as ITK's and PyRadiomics'), where torch's CPU sqrt is not always."""
    rng = np.random.default_rng(1)
    values = np.concatenate([np.arange(0, 200_000) * 1183.0, rng.random(500_000) * 1e6, rng.random(100_000),
                             2.0 ** np.arange(-1000, 1000), [np.inf]])
    assert np.array_equal(correctly_rounded_sqrt(torch.from_numpy(values)).numpy(), np.sqrt(values))
