"""Comparison helpers of the engine's tests: PyRadiomics' inputs and the engine's region built
from the same arrays, and the one tolerance of every feature comparison.

The tolerance is :mod:`tests.radiomics.engine.tolerance`'s.
"""
from __future__ import annotations

import logging
from functools import lru_cache

import numpy as np
import pytest
import SimpleITK as sitk
import torch
from radiomics import imageoperations

from core.radiomics.engine.region import crop
from core.radiomics.presets import load_preset
from tests.radiomics.engine.cases import Case, load_case
from tests.radiomics.engine.tolerance import within

logging.getLogger("radiomics").setLevel(logging.ERROR)

# The paper's settings, and others under which many grey levels appear, with larger neighbourhoods.
SETTINGS = {
    "paper": {**load_preset("paper").settings, "label": 1},
    "binWidth5": {"binWidth": 5, "distances": [1, 2], "gldm_a": 1, "label": 1},
    "binCount32": {"binCount": 32, "distances": [2], "label": 1},
}
DEVICES = ("cpu", pytest.param("cuda", marks=pytest.mark.skipif(not torch.cuda.is_available(),
                                                                  reason="no CUDA device")))


@lru_cache(maxsize=None)
def float_case(name: str) -> Case:
    """A filter-like float image: the case's CT times 0.37 plus N(0, 1) noise (fixed seed)."""
    case = load_case(name)
    array = sitk.GetArrayFromImage(case.image).astype(np.float64) * 0.37
    array += np.random.default_rng(7).normal(0.0, 1.0, array.shape)
    image = sitk.GetImageFromArray(array)
    image.CopyInformation(case.image)
    return Case(f"{name}_float", image, case.mask, case.label)


def pyradiomics_and_region(case: Case, settings: dict, device: str = "cpu"):
    """(cropped image, cropped mask) as PyRadiomics' extractor feeds its classes, and the engine's Region."""
    box, _ = imageoperations.checkMask(case.image, case.mask, label=case.label)
    image, mask = imageoperations.cropToTumorMask(case.image, case.mask, box)
    array = sitk.GetArrayFromImage(case.image)
    region = crop(torch.from_numpy(array).to(device),
                  torch.from_numpy(sitk.GetArrayFromImage(case.mask) == case.label).to(device),
                  case.image.GetSpacing(), settings, dtype=array.dtype)
    return image, mask, region


def assert_matches(ours: dict[str, torch.Tensor], reference: dict, device: str) -> None:
    """Same names; each value within the tolerance (:func:`within`), NaN where PyRadiomics' is."""
    assert set(ours) == set(reference)
    for name, expected in reference.items():
        value = ours[name]
        assert value.dtype == torch.float64 and value.dim() == 0 and value.device.type == device, name
        assert within(float(value), float(expected)), f"{name}: engine {float(value)}, PyRadiomics {float(expected)}"


def compare(feature_class, module, case: Case, settings: dict, device: str = "cpu") -> dict:
    """Assert the engine's module equals PyRadiomics' class on the case; PyRadiomics' values."""
    image, mask, region = pyradiomics_and_region(case, settings, device)
    reference = feature_class(image, mask, **settings).execute()
    assert_matches(module.features(region), reference, device)
    return reference


def pyradiomics_names(feature_class) -> set[str]:
    return {name for name, deprecated in feature_class.getFeatureNames().items() if not deprecated}


# weightingNorm and spacing matter together: the anisotropic case's angles differ in length
WEIGHTINGS = ("manhattan", "euclidean", "infinity", "no_weighting", "chebyshev")   # the last is unknown: weight 1
