"""The engine's GLDM against PyRadiomics' ``RadiomicsGLDM``.

Tolerance: 1e-6 relative, or 1e-9 absolute where PyRadiomics' |value| < 1e-3 (measured:
below 1e-15 on every case). No GLDM feature needs a wider one.
"""
from __future__ import annotations

import pytest
from radiomics import gldm

from core.radiomics.engine import gldm as engine_gldm
from tests.radiomics.engine.cases import CASE_NAMES, load_case
from tests.radiomics.engine.compare import (DEVICES, SETTINGS, compare, float_case, pyradiomics_and_region,
                                            pyradiomics_names)


def test_feature_names():
    assert set(engine_gldm.FEATURES) == pyradiomics_names(gldm.RadiomicsGLDM)
    assert len(engine_gldm.FEATURES) == 14


@pytest.mark.parametrize("settings", SETTINGS)
@pytest.mark.parametrize("name", CASE_NAMES)
def test_matches_pyradiomics(name, settings):
    compare(gldm.RadiomicsGLDM, engine_gldm, load_case(name), SETTINGS[settings])


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("name", ("ct_liver", "ct_tumor"))
def test_float_image_matches_pyradiomics(name, device):
    compare(gldm.RadiomicsGLDM, engine_gldm, float_case(name), SETTINGS["binWidth5"], device)


@pytest.mark.parametrize("alpha", (0, 3))
@pytest.mark.parametrize("dimension", (0, 1, 2))
def test_force2d_matches_pyradiomics(dimension, alpha):
    settings = {"binWidth": 10, "gldm_a": alpha, "distances": [1, 3], "force2D": True,
                "force2Ddimension": dimension, "label": 1}
    compare(gldm.RadiomicsGLDM, engine_gldm, load_case("ct_liver"), settings)


@pytest.mark.parametrize("alpha", (0.5, -1))
def test_non_integer_alpha_is_refused(alpha):
    _, _, region = pyradiomics_and_region(load_case("ct_tumor"), {"gldm_a": alpha, "label": 1})
    with pytest.raises(ValueError, match="gldm_a"):
        engine_gldm.features(region)


def test_unknown_name():
    _, _, region = pyradiomics_and_region(load_case("ct_tumor"), SETTINGS["paper"])
    with pytest.raises(ValueError, match="DependencePercentage"):
        engine_gldm.features(region, ["DependencePercentage"])
