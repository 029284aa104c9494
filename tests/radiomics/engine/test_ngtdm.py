"""The engine's NGTDM against PyRadiomics' ``RadiomicsNGTDM``.

Tolerance: 1e-6 relative, or 1e-9 absolute where PyRadiomics' |value| < 1e-3 (measured:
below 1e-15 on every case). No NGTDM feature needs a wider one.
"""
from __future__ import annotations

import numpy as np
import pytest
import SimpleITK as sitk
from radiomics import ngtdm

from core.radiomics.engine import ngtdm as engine_ngtdm
from tests.radiomics.engine.cases import CASE_NAMES, Case, load_case
from tests.radiomics.engine.compare import (DEVICES, SETTINGS, compare, float_case, pyradiomics_and_region,
                                            pyradiomics_names)


def test_feature_names():
    assert set(engine_ngtdm.FEATURES) == pyradiomics_names(ngtdm.RadiomicsNGTDM)


@pytest.mark.parametrize("settings", SETTINGS)
@pytest.mark.parametrize("name", CASE_NAMES)
def test_matches_pyradiomics(name, settings):
    compare(ngtdm.RadiomicsNGTDM, engine_ngtdm, load_case(name), SETTINGS[settings])


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("name", ("ct_liver", "ct_tumor"))
def test_float_image_matches_pyradiomics(name, device):
    compare(ngtdm.RadiomicsNGTDM, engine_ngtdm, float_case(name), SETTINGS["binWidth5"], device)


@pytest.mark.parametrize("dimension", (0, 1, 2))
def test_force2d_matches_pyradiomics(dimension):
    settings = {"binWidth": 10, "distances": [1, 2], "force2D": True, "force2Ddimension": dimension, "label": 1}
    compare(ngtdm.RadiomicsNGTDM, engine_ngtdm, load_case("ct_liver"), settings)


def test_constant_region_gives_coarseness_1e6():
    reference = compare(ngtdm.RadiomicsNGTDM, engine_ngtdm, load_case("constant"), SETTINGS["paper"])
    assert reference["Coarseness"] == 1e6 and reference["Contrast"] == 0 and reference["Busyness"] == 0


def test_voxels_without_neighbours():
    """Scattered voxels, most with no neighbour in the mask (counted in n_i with a difference of 0)."""
    rng = np.random.default_rng(11)
    image = rng.integers(-100, 200, (9, 10, 11)).astype(np.int16)
    mask = np.zeros(image.shape, np.uint8)
    mask[::3, ::3, ::3] = 1          # isolated voxels
    mask[4, 4, 4:7] = 1              # and one short line
    images = [sitk.GetImageFromArray(a) for a in (image, mask)]
    compare(ngtdm.RadiomicsNGTDM, engine_ngtdm, Case("scattered", *images, 1), SETTINGS["paper"])


def test_unknown_name():
    _, _, region = pyradiomics_and_region(load_case("ct_tumor"), SETTINGS["paper"])
    with pytest.raises(ValueError, match="Roughness"):
        engine_ngtdm.features(region, ["Roughness"])
