"""The engine's first-order features against PyRadiomics' ``RadiomicsFirstOrder``.

Tolerance: 1e-6 relative, or 1e-9 absolute where PyRadiomics' |value| < 1e-3 (measured: at most
1.7e-14 relative, Skewness of the float images; below 1e-15 for int16 images). No first-order
feature needs a wider one.
PyRadiomics converts the region's values to float64 before any statistic, so a float32 image
(as some filters give) is accumulated in float64 by both: no float32 difference to list.
"""
from __future__ import annotations

import numpy as np
import pytest
import SimpleITK as sitk
from radiomics import firstorder

from core.radiomics.engine import firstorder as engine_firstorder
from tests.radiomics.engine.cases import CASE_NAMES, Case, load_case
from tests.radiomics.engine.compare import (DEVICES, SETTINGS, compare, float_case, pyradiomics_and_region,
                                            pyradiomics_names)

FIRST_ORDER_SETTINGS = {**SETTINGS, "shifted": {"binWidth": 25, "voxelArrayShift": 1000, "label": 1}}


def test_feature_names():
    assert set(engine_firstorder.FEATURES) == pyradiomics_names(firstorder.RadiomicsFirstOrder)
    assert len(engine_firstorder.FEATURES) == 18


@pytest.mark.parametrize("settings", FIRST_ORDER_SETTINGS)
@pytest.mark.parametrize("name", CASE_NAMES)
def test_matches_pyradiomics(name, settings):
    compare(firstorder.RadiomicsFirstOrder, engine_firstorder, load_case(name), FIRST_ORDER_SETTINGS[settings])


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("name", ("ct_liver", "ct_tumor", "negative"))
def test_float_image_matches_pyradiomics(name, device):
    compare(firstorder.RadiomicsFirstOrder, engine_firstorder, float_case(name), SETTINGS["binWidth5"], device)


def with_image(case: Case, array: np.ndarray, name: str) -> Case:
    image = sitk.GetImageFromArray(array)
    image.CopyInformation(case.image)
    return Case(name, image, case.mask, case.label)


@pytest.mark.parametrize("settings", ("paper", "binCount32"))
def test_float32_image_matches_pyradiomics(settings):
    """A float32 image (PyRadiomics' array for e.g. LoG and wavelet outputs): bins from float32 edges."""
    case = float_case("ct_liver")
    array = sitk.GetArrayFromImage(case.image).astype(np.float32)
    compare(firstorder.RadiomicsFirstOrder, engine_firstorder, with_image(case, array, "float32"), SETTINGS[settings])


def flat_case(value: float, radius: float) -> Case:
    """A sphere of ``radius`` voxels in which every voxel equals ``value`` (float64), noise around it."""
    shape = (2 * int(radius) + 5,) * 3
    grid = np.meshgrid(*(np.arange(s) - s // 2 for s in shape), indexing="ij")
    inside = sum(g ** 2 for g in grid) <= radius ** 2
    rng = np.random.default_rng(3)
    array = np.where(inside, value, rng.normal(0, 100, shape))
    images = [sitk.GetImageFromArray(a) for a in (array, inside.astype(np.uint8))]
    return Case(f"flat{value}", *images, 1)


def test_flat_float_regions():
    """Every voxel equal: Skewness and Kurtosis are 0 where numpy's mean is the value exactly, and
    +-1 and 1 where its pairwise sum rounds (123 voxels: one block of 8 accumulators; 2,109 and
    17,077 voxels: halves split at multiples of 8)."""
    outcomes = set()
    for radius in (3, 8, 16):
        for value in (57.0, 21.09, 5.7, 0.1, 57.3, -1234.567):
            reference = compare(firstorder.RadiomicsFirstOrder, engine_firstorder, flat_case(value, radius),
                                SETTINGS["paper"])
            outcomes.add((float(reference["Skewness"]), float(reference["Kurtosis"])))
            assert abs(float(reference["Variance"])) < 1e-20
    assert {(0.0, 0.0), (1.0, 1.0), (-1.0, 1.0)} <= outcomes


def test_constant_int_region():
    reference = compare(firstorder.RadiomicsFirstOrder, engine_firstorder, load_case("constant"), SETTINGS["paper"])
    assert reference["Skewness"] == 0 and reference["Kurtosis"] == 0 and reference["Range"] == 0


def test_selected_names_and_unknown_name():
    _, _, region = pyradiomics_and_region(load_case("ct_tumor"), SETTINGS["paper"])
    assert list(engine_firstorder.features(region, ["Median", "Entropy"])) == ["Median", "Entropy"]
    with pytest.raises(ValueError, match="StandardDeviation"):
        engine_firstorder.features(region, ["StandardDeviation"])
